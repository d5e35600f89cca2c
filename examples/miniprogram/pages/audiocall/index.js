// Audio call, the seeds' component version: the SDK keeps `pusher` and `playerList` in this
// page's data (initContext), and the page binds <live-pusher>/<live-player> to them directly.
// createPusher({enableCamera: false}) publishes sound only.
const { ZegoExpressEngine } = require("duet-miniprogram");
const config = require("../../config");
const { getToken } = require("../../utils/token");
const { randomID } = require("../../utils/ids");
const { showStatus } = require("../../utils/status");

let zg;

Page({
  data: {
    canShow: 1,
    roomID: "",
    userID: "",
    publishStreamID: "",
    pusher: {},
    playerList: [],
    roomState: "DISCONNECTED",
    publishState: "NO_PUBLISH",
    playStates: {},
    remoteStreams: [],
    users: [],
    error: "",
  },

  onLoad(query) {
    const userID = query.userID || randomID("user");
    this.setData({
      roomID: query.roomID || config.roomID,
      userID,
      publishStreamID: query.streamID || `${userID}-audio`,
    });
    zg = new ZegoExpressEngine(config.appID, config.server);
    showStatus(zg, this);
    zg.on("roomStreamUpdate", (roomID, updateType, streamList) => {
      if (updateType === "ADD") {
        streamList.forEach((i) => {
          zg.getPlayerInstance(i.streamID).play();
        });
      } else {
        streamList.forEach((i) => {
          zg.getPlayerInstance(i.streamID).stop();
        });
      }
      const ids = streamList.map((s) => s.streamID);
      const remoteStreams = updateType === "ADD" ? this.data.remoteStreams.concat(ids) : this.data.remoteStreams.filter((s) => ids.indexOf(s) < 0);
      this.setData({ remoteStreams });
    });
    zg.initContext({ wxContext: this, pushAtr: "pusher", playAtr: "playerList" });
  },

  async openRoom() {
    const { roomID, userID } = this.data;
    try {
      const token = await getToken(userID, roomID);
      await zg.loginRoom(roomID, token, { userID, userName: userID });
      zg.createPusher({ enableCamera: false });
      await zg.getPusherInstance().start(this.data.publishStreamID);
    } catch (err) {
      this.setData({ error: `${err.code || ""} ${err.msg || err.message}` });
      throw err;
    }
  },

  onPushStateChange(e) {
    zg.updatePlayerState(this.data.publishStreamID, e);
  },
  onPushNetStateChange(e) {
    zg.updatePlayerNetStatus(this.data.publishStreamID, e);
  },
  bindaudiovolumenotify(e) {
    zg.updateAudioVolumeNotify(this.data.publishStreamID, e);
  },
  onPlayStateChange(e) {
    zg.updatePlayerState(e.currentTarget.id, e);
  },
  onPlayNetStateChange(e) {
    zg.updatePlayerNetStatus(e.currentTarget.id, e);
  },
  binddatachange() {},

  bindKeyInput(e) {
    this.setData({ roomID: e.detail.value });
  },

  logout() {
    if (!zg) return;
    const pusher = zg.getPusherInstance();
    if (pusher) pusher.stop();
    this.data.remoteStreams.forEach((id) => zg.getPlayerInstance(id).stop());
    zg.logoutRoom(this.data.roomID);
  },

  onUnload() {
    this.logout();
    if (zg) zg.destroyEngine();
    zg = null;
  },
});
