// Audio call with WeChat's own <live-pusher enable-camera="{{false}}">/<live-player> (the seeds'
// native version); it plays the other side over HTTP-FLV (sourceType "CDN").
const { nativeCallPage } = require("../../utils/native-call");

Page(nativeCallPage({ streamSuffix: "voice", playSource: "CDN" }));
