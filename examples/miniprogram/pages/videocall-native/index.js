// Video call with WeChat's own <live-pusher>/<live-player> (the seeds' native version).
const { nativeCallPage } = require("../../utils/native-call");

Page(nativeCallPage({ streamSuffix: "native", playSource: "BGP" }));
