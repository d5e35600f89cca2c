// A call page with WeChat's own <live-pusher>/<live-player>: the seeds' native flow.
// startPublishingStream / startPlayingStream give the URLs the page binds; the components'
// events go back to the SDK through updatePlayerState / updatePlayerNetStatus. The video and
// audio call pages differ only in their WXML (enable-camera) and the options below.
const { ZegoExpressEngine } = require("duet-miniprogram");
const config = require("../config");
const { getToken } = require("./token");
const { randomID } = require("./ids");
const { showStatus } = require("./status");
const { showMessages, sendDraft } = require("./messages");

let zg;

const setPlayUrl = (streamID, url, context) => {
  if (!url) return;
  const list = context.data.livePlayerList;
  if (list.some((p) => p.streamID === streamID && p.url === url)) return;
  const same = list.find((p) => p.streamID === streamID);
  if (same) {
    same.url = url;
  } else {
    list.push({ streamID, url, playerContext: wx.createLivePlayerContext(streamID) });
  }
  context.setData({ livePlayerList: list });
};

const playAll = async (streamList, context) => {
  for (let i = 0; i < streamList.length; i++) {
    try {
      const { streamID, url } = await zg.startPlayingStream(streamList[i].streamID, {
        sourceType: context.data.playSource || "BGP",
      });
      setPlayUrl(streamID, url, context);
    } catch (error) {
      console.error("startPlayingStream failed", error);
    }
  }
};

const stopPlayAll = (streamList, context) => {
  const playStreamList = context.data.livePlayerList;
  for (let i = 0; i < streamList.length; i++) {
    const streamID = streamList[i].streamID;
    zg.stopPlayingStream(streamID);
    for (let j = 0; j < playStreamList.length; j++) {
      if (playStreamList[j].streamID === streamID) {
        playStreamList.splice(j, 1);
        break;
      }
    }
  }
  context.setData({ livePlayerList: playStreamList });
};

/**
 * The page definition. `streamSuffix` names this user's stream; `playSource` "BGP" plays RTMP,
 * "CDN" plays HTTP-FLV.
 */
function nativeCallPage({ streamSuffix, playSource }) {
  return {
    data: {
      canShow: 1,
      roomID: "",
      userID: "",
      pushStreamID: "",
      playSource: "BGP",
      livePusherUrl: "",
      livePusher: null,
      livePlayerList: [],
      roomState: "DISCONNECTED",
      publishState: "NO_PUBLISH",
      playStates: {},
      publishQuality: {},
      users: [],
      messages: [],
      draft: "",
      error: "",
    },

    onLoad(query) {
      const userID = query.userID || randomID("user");
      this.setData({
        roomID: query.roomID || config.roomID,
        userID,
        pushStreamID: query.streamID || `${userID}-${streamSuffix}`,
        playSource: query.playSource || playSource,
      });
      zg = new ZegoExpressEngine(config.appID, config.server);
      showStatus(zg, this);
      showMessages(zg, this);
      zg.on("roomStreamUpdate", (roomID, updateType, streamList) => {
        if (updateType === "ADD") {
          playAll(streamList, this);
        } else {
          stopPlayAll(streamList, this);
        }
      });
      zg.on("publishQualityUpdate", (streamID, stats) => {
        this.setData({ publishQuality: { fps: stats.video.videoFPS, kbps: stats.video.videoBitrate } });
      });
    },

    async openRoom() {
      const { roomID, userID } = this.data;
      try {
        const token = await getToken(userID, roomID);
        await zg.loginRoom(roomID, token, { userID, userName: userID }, { userUpdate: true });
        const { url } = await zg.startPublishingStream(this.data.pushStreamID, {});
        this.setData({ livePusherUrl: url, livePusher: wx.createLivePusherContext() }, () => {
          // autopush is set on <live-pusher>, so start() is only needed without it.
        });
      } catch (err) {
        this.setData({ error: `${err.code || ""} ${err.msg || err.message}` });
        throw err;
      }
    },

    // <live-pusher bindstatechange>: hand the event to the SDK.
    onPushStateChange(e) {
      zg.updatePlayerState(this.data.pushStreamID, e);
      const code = e.detail.code;
      if (code === 1002) this.pushRetries = 0;
      const failed = code === -1307 || (code >= 3001 && code <= 3005);
      if (failed && !this.pushRetry && (this.pushRetries = (this.pushRetries || 0) + 1) <= 6) {
        // The push failed: after a pause (0.5, 1, 2, 4, 8, 16 s; the SDK may be getting the
        // stream a new address meanwhile, e.g. when a server of a cluster died), try the next
        // address the server gave, then give up.
        this.pushRetry = setTimeout(() => {
          this.pushRetry = null;
          const next = zg && zg.getNextUrl(this.data.pushStreamID);
          if (next) this.setData({ livePusherUrl: "" }, () => zg && this.setData({ livePusherUrl: next }));
        }, 500 * 2 ** (this.pushRetries - 1));
      }
    },
    onPushNetStateChange(e) {
      zg.updatePlayerNetStatus(this.data.pushStreamID, e);
    },
    bindaudiovolumenotify(e) {
      zg.updateAudioVolumeNotify(this.data.pushStreamID, e);
    },
    // <live-player bindstatechange>: the player's id is its streamID.
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

    bindMessageInput(e) {
      this.setData({ draft: e.detail.value });
    },

    sendMessage() {
      return sendDraft(zg, this);
    },

    logout() {
      clearTimeout(this.pushRetry);
      this.pushRetry = null;
      if (!zg) return;
      if (this.data.livePusher) this.data.livePusher.stop && this.data.livePusher.stop();
      zg.stopPublishingStream(this.data.pushStreamID);
      const playStreamList = this.data.livePlayerList;
      playStreamList.forEach((p) => zg.stopPlayingStream(p.streamID));
      this.setData({ livePusherUrl: "", livePlayerList: [] });
      zg.logoutRoom(this.data.roomID);
    },

    onUnload() {
      this.logout();
      if (zg) zg.destroyEngine();
      zg = null;
    },
  };
}

module.exports = { nativeCallPage };
