// <duet-player playerId="{{streamID}}" playerList="{{playerList}}">: the <live-player> for one
// stream of the list the engine keeps in data[playAtr] (initContext). Its events go to the
// engine playing that stream and, as statechange/netstatus, to the page.
const { routeComponentEvent } = require("../../engine");

/** The page (or component) this component sits in: the `wxContext` given to initContext. */
function owner(component) {
  return typeof component.selectOwnerComponent === "function" ? component.selectOwnerComponent() : undefined;
}

Component({
  properties: {
    playerId: { type: String, value: "" },
    playerList: { type: Array, value: [] },
  },
  methods: {
    /** Plays `streamID` through `zg` (what zg.getPlayerInstance(streamID).play() does). */
    startPlay(zg, streamID, playOption) {
      const id = streamID || this.data.playerId;
      const player = zg.getPlayerInstance(id);
      if (!player) return Promise.reject({ code: 60006, msg: "call zg.initContext first" });
      return player.play(playOption);
    },
    stopPlay(zg, streamID) {
      const player = zg && zg.getPlayerInstance(streamID || this.data.playerId);
      if (player) player.stop();
    },
    onStateChange(e) {
      routeComponentEvent("state", this.data.playerId, e, owner(this));
      this.triggerEvent("statechange", e.detail);
    },
    onNetStatus(e) {
      routeComponentEvent("net", this.data.playerId, e, owner(this));
      this.triggerEvent("netstatus", e.detail);
    },
    onAudioVolume(e) {
      routeComponentEvent("volume", this.data.playerId, e, owner(this));
      this.triggerEvent("audiovolumenotify", e.detail);
    },
  },
});
