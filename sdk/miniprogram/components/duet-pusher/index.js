// <duet-pusher pusher="{{pusher}}">: the <live-pusher> that shows what the engine keeps in
// data[pushAtr] (initContext). Its events go to the engine publishing that stream and, as
// statechange/netstatus/audiovolumenotify, to the page.
const { routeComponentEvent } = require("../../engine");

/** The page (or component) this component sits in: the `wxContext` given to initContext. */
function owner(component) {
  return typeof component.selectOwnerComponent === "function" ? component.selectOwnerComponent() : undefined;
}

Component({
  properties: {
    pusher: { type: Object, value: {} },
  },
  methods: {
    /** Publishes `streamID` through `zg` (what zg.createPusher().start(streamID) does). */
    startPush(zg, streamID, publishOption) {
      const pusher = zg.getPusherInstance() || zg.createPusher();
      if (!pusher) return Promise.reject({ code: 60006, msg: "call zg.initContext first" });
      return pusher.start(streamID, publishOption);
    },
    stopPush(zg) {
      const pusher = zg && zg.getPusherInstance();
      if (pusher) pusher.stop();
    },
    onStateChange(e) {
      routeComponentEvent("state", this.data.pusher.id, e, owner(this));
      this.triggerEvent("statechange", e.detail);
    },
    onNetStatus(e) {
      routeComponentEvent("net", this.data.pusher.id, e, owner(this));
      this.triggerEvent("netstatus", e.detail);
    },
    onAudioVolume(e) {
      routeComponentEvent("volume", this.data.pusher.id, e, owner(this));
      this.triggerEvent("audiovolumenotify", e.detail);
    },
    onError(e) {
      this.triggerEvent("error", e.detail);
    },
  },
});
