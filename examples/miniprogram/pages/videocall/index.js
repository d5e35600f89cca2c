// Video call with the duet-pusher/duet-player components: the seeds' component-version flow
// (engine, events, login, initContext, createPusher().start(), startPlay on stream ADD, stop,
// logout, destroy), pointed at a Duet server by config.js.
const { ZegoExpressEngine } = require("duet-miniprogram");
const config = require("../../config");
const { getToken } = require("../../utils/token");
const { randomID } = require("../../utils/ids");
const { showStatus } = require("../../utils/status");
const { showMessages, sendDraft } = require("../../utils/messages");

let zg;

Page({
  data: {
    canShow: 1,
    roomID: "",
    userID: "",
    pushStreamID: "",
    pusher: {},
    playerList: [],
    duetPlayerList: [],
    roomState: "DISCONNECTED",
    publishState: "NO_PUBLISH",
    playStates: {},
    playQuality: {},
    users: [],
    messages: [],
    draft: "",
    mixState: "",
    error: "",
  },

  onLoad(query) {
    const userID = query.userID || randomID("user");
    this.setData({
      roomID: query.roomID || config.roomID,
      userID,
      pushStreamID: query.streamID || `${userID}-video`,
    });
    this.initEngine();
  },

  initEngine() {
    zg = new ZegoExpressEngine(config.appID, config.server);
    showStatus(zg, this);
    showMessages(zg, this);
    zg.on("playQualityUpdate", (streamID, stats) => {
      this.setData({ [`playQuality.${streamID}`]: { fps: stats.video.videoFPS, kbps: stats.video.videoBitrate } });
    });
    zg.on("roomStreamUpdate", async (roomID, updateType, streamList) => {
      if (updateType === "ADD") {
        for (let i = 0; i < streamList.length; i++) {
          try {
            const duetPlayerAttr = {
              componentID: `duet-${streamList[i].streamID}`,
              playerId: streamList[i].streamID,
            };
            this.data.duetPlayerList.push(duetPlayerAttr);
            this.setData({ duetPlayerList: this.data.duetPlayerList });
            const duetPlayer = this.selectComponent(`#${duetPlayerAttr.componentID}`);
            if (!duetPlayer) return console.warn("no component for", streamList[i].streamID);
            await duetPlayer.startPlay(zg, streamList[i].streamID);
          } catch (error) {
            console.error("play failed; the room will recover it after reconnecting", error);
          }
        }
      } else {
        streamList.forEach((streamItem) => {
          zg.getPlayerInstance(streamItem.streamID).stop();
          this.data.duetPlayerList = this.data.duetPlayerList.filter((c) => streamItem.streamID !== c.playerId);
        });
        this.setData({ duetPlayerList: this.data.duetPlayerList });
      }
    });
    zg.initContext({ wxContext: this, pushAtr: "pusher", playAtr: "playerList" });
  },

  async openRoom() {
    const { roomID, userID } = this.data;
    try {
      const token = await getToken(userID, roomID);
      await zg.loginRoom(roomID, token, { userID, userName: userID }, { userUpdate: true });
      const pusher = zg.createPusher();
      await pusher.start(this.data.pushStreamID);
    } catch (err) {
      this.setData({ error: `${err.code || ""} ${err.msg || err.message}` });
      throw err;
    }
  },

  /** The mixer task of this room: a taskID and stream ID made of the room's ID. */
  mixID() {
    return `${this.data.roomID.replace(/[^0-9A-Za-z_-]/g, "_")}-mix`;
  },

  // This user's stream and the first other side by side in one stream, for viewers who play
  // one stream (or a CDN): the server composes them and announces the mix to the room.
  async mixRoom() {
    const mixID = this.mixID();
    const others = this.data.duetPlayerList.map((c) => c.playerId).filter((id) => id !== mixID);
    const inputs = [this.data.pushStreamID, ...others].slice(0, 2);
    const result = await zg.startMixerTask({
      taskID: mixID,
      inputList: inputs.map((streamID, i) => ({
        streamID,
        layout: { top: 0, left: i * 320, bottom: 360, right: (i + 1) * 320 },
      })),
      outputList: [mixID],
      outputConfig: { outputWidth: 640, outputHeight: 360, outputFPS: 15, outputBitrate: 800 },
    });
    this.setData({ mixState: result.errorCode === 0 ? "mixing" : `mix refused: ${result.errorCode} ${result.extendedData}` });
    return result;
  },

  async stopMix() {
    const result = await zg.stopMixerTask(this.mixID());
    this.setData({ mixState: result.errorCode === 0 ? "" : `stop refused: ${result.errorCode} ${result.extendedData}` });
    return result;
  },

  bindKeyInput(e) {
    this.setData({ roomID: e.detail.value });
  },

  bindMessageInput(e) {
    this.setData({ draft: e.detail.value });
  },

  sendMessage() {
    return sendDraft(zg, this);
  },

  logout() {
    if (!zg) return;
    const pusher = zg.getPusherInstance();
    if (pusher) pusher.stop();
    this.data.duetPlayerList.forEach((c) => zg.getPlayerInstance(c.playerId).stop());
    this.setData({ duetPlayerList: [] });
    zg.logoutRoom(this.data.roomID);
  },

  onUnload() {
    this.logout();
    if (zg) zg.destroyEngine();
    zg = null;
  },
});
