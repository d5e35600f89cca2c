// duet-web 0.1.0: Duet's Web SDK (MIT). Built from sdk/web and sdk/miniprogram/src/core; do not edit.

// ../miniprogram/src/core/quality_report.ts
var REPORT_EVERY_MS = 15e3;
var MAX_STREAMS = 8;
var QualityReporter = class {
  constructor(emitter, presence, logger, live) {
    this.presence = presence;
    this.logger = logger;
    this.live = live;
    this.measured = /* @__PURE__ */ new Map();
    emitter.listen("publishQualityUpdate", (streamID, stats) => this.measure(streamID, "publish", stats));
    emitter.listen("playQualityUpdate", (streamID, stats) => this.measure(streamID, "play", stats));
    emitter.listen("publisherStateUpdate", (r) => {
      const m = this.entry(r.streamID, "publish");
      if (m.state === "PUBLISHING" && r.state === "PUBLISH_REQUESTING") m.reconnects++;
      m.state = r.state;
      if (r.state === "NO_PUBLISH") this.forgetLater(r.streamID);
    });
    emitter.listen("playerStateUpdate", (r) => {
      const m = this.entry(r.streamID, "play");
      if (m.state === "PLAYING" && r.state === "PLAY_REQUESTING") m.stalls++;
      m.state = r.state;
      if (r.state === "NO_PLAY") this.forgetLater(r.streamID);
    });
  }
  stop() {
    if (this.timer !== void 0) clearInterval(this.timer);
    this.timer = void 0;
    this.measured.clear();
  }
  entry(streamID, role) {
    if (this.timer === void 0) this.timer = setInterval(() => void this.tick(), REPORT_EVERY_MS);
    let m = this.measured.get(streamID);
    if (!m || m.role !== role) {
      m = { role, fresh: false, stalls: 0, reconnects: 0, state: "" };
      this.measured.set(streamID, m);
    }
    return m;
  }
  measure(streamID, role, stats) {
    const m = this.entry(streamID, role);
    m.stats = stats;
    m.fresh = true;
  }
  /** A stream that ended is reported once more (its last counts), then forgotten. */
  forgetLater(streamID) {
    const m = this.measured.get(streamID);
    if (m && !m.fresh && m.stalls === 0 && m.reconnects === 0) this.measured.delete(streamID);
  }
  /** The room a stream belongs to: its publisher's, or the room that announced it. */
  roomOf(streamID, role) {
    var _a;
    if (role === "publish") return (_a = this.presence.streams.publishing.get(streamID)) == null ? void 0 : _a.roomID;
    for (const room of this.presence.rooms.values()) if (room.streams.has(streamID)) return room.roomID;
    return void 0;
  }
  async tick() {
    await this.report();
    if (this.measured.size === 0 && this.timer !== void 0) {
      clearInterval(this.timer);
      this.timer = void 0;
    }
  }
  /** Sends what was measured since the previous report; exposed for tests. */
  async report() {
    const conn = this.live();
    if (!conn) return;
    const byRoom = /* @__PURE__ */ new Map();
    for (const [streamID, m] of this.measured) {
      if (!m.fresh && m.stalls === 0 && m.reconnects === 0) continue;
      const roomID = this.roomOf(streamID, m.role);
      if (roomID === void 0) {
        if (m.state === "NO_PLAY" || m.state === "NO_PUBLISH") this.measured.delete(streamID);
        continue;
      }
      const list = byRoom.get(roomID) || [];
      list.push({ streamID, m });
      byRoom.set(roomID, list);
    }
    for (const [roomID, list] of byRoom) {
      const chosen = list.slice(0, MAX_STREAMS);
      const streams = chosen.map(({ streamID, m }) => entryOf(streamID, m));
      try {
        await conn.request("reportQuality", { roomID, streams });
        for (const { streamID, m } of chosen) {
          m.fresh = false;
          m.stalls = 0;
          m.reconnects = 0;
          if (m.state === "NO_PLAY" || m.state === "NO_PUBLISH") this.measured.delete(streamID);
        }
      } catch (e) {
        const err = e;
        this.logger.debug(`quality report of ${roomID} not taken: ${err.code} ${err.msg}`);
      }
    }
  }
};
function entryOf(streamID, m) {
  const s = m.stats;
  const n = (v, max) => typeof v === "number" && isFinite(v) && v >= 0 ? Math.min(v, max) : 0;
  const entry = {
    streamID,
    role: m.role,
    videoKbps: n(s == null ? void 0 : s.video.videoBitrate, 1e6),
    audioKbps: n(s == null ? void 0 : s.audio.audioBitrate, 1e5),
    fps: n(s == null ? void 0 : s.video.videoFPS, 240),
    width: Math.round(n(s == null ? void 0 : s.video.frameWidth, 16384)),
    height: Math.round(n(s == null ? void 0 : s.video.frameHeight, 16384)),
    stalls: Math.min(m.stalls, 1e3),
    reconnects: Math.min(m.reconnects, 1e3)
  };
  if (s && typeof s.video.videoCache === "number") entry.cacheMs = n(s.video.videoCache, 6e5);
  const web = s;
  const rtt = web && (typeof web.currentRoundTripTime === "number" ? web.currentRoundTripTime : web.peerToPeerDelay);
  if (typeof rtt === "number") entry.rttMs = n(rtt, 6e4);
  const loss = web && web.video && web.video.videoPacketsLostRate;
  if (typeof loss === "number") entry.lossPct = n(loss * 100, 100);
  return entry;
}

// ../miniprogram/src/core/emitter.ts
var EVENTS = [
  "roomStateUpdate",
  "roomStateChanged",
  "roomUserUpdate",
  "roomOnlineUserCountUpdate",
  "roomStreamUpdate",
  "streamExtraInfoUpdate",
  "roomExtraInfoUpdate",
  "IMRecvBroadcastMessage",
  "IMRecvBarrageMessage",
  "IMRecvCustomCommand",
  "tokenWillExpire",
  "publisherStateUpdate",
  "publishQualityUpdate",
  "playerStateUpdate",
  "playQualityUpdate",
  "capturedSoundLevelUpdate",
  "soundLevelUpdate"
];
var Emitter = class {
  constructor(onHandlerError, platformEvents = []) {
    this.onHandlerError = onHandlerError;
    this.handlers = /* @__PURE__ */ new Map();
    /** The SDK's own listeners: told before the page's, and out of reach of the page's `off`. */
    this.internal = /* @__PURE__ */ new Map();
    this.known = [...EVENTS, ...platformEvents];
  }
  on(event, cb) {
    if (!this.known.includes(event)) {
      console.warn(`duet: on("${String(event)}"): no such event; known events: ${this.known.join(", ")}`);
      return false;
    }
    if (typeof cb !== "function") {
      console.warn(`duet: on("${event}"): the callback is not a function`);
      return false;
    }
    const list = this.handlers.get(event) || [];
    list.push(cb);
    this.handlers.set(event, list);
    return true;
  }
  off(event, cb) {
    if (!this.known.includes(event)) {
      console.warn(`duet: off("${String(event)}"): no such event`);
      return false;
    }
    if (cb === void 0) {
      this.handlers.delete(event);
    } else {
      this.handlers.set(event, (this.handlers.get(event) || []).filter((h) => h !== cb));
    }
    return true;
  }
  /** Listens for the SDK itself (a platform's engine following the core's events). */
  listen(event, cb) {
    this.internal.set(event, [...this.internal.get(event) || [], cb]);
  }
  emit(event, ...args) {
    for (const h of [...this.internal.get(event) || [], ...this.handlers.get(event) || []]) {
      try {
        h(...args);
      } catch (err) {
        this.onHandlerError(event, err);
      }
    }
  }
  clear() {
    this.handlers.clear();
    this.internal.clear();
  }
};

// ../miniprogram/src/core/errors.ts
var SdkError = {
  /** A call's arguments are missing or of the wrong type. */
  INVALID_ARGUMENT: 60001,
  /** The engine was destroyed. */
  DESTROYED: 60002,
  /** No server address could be reached. */
  NETWORK_UNREACHABLE: 60003,
  /** The server did not answer a request in time. */
  REQUEST_TIMEOUT: 60004,
  /** The call needs a room this engine is not logged into. */
  NOT_LOGGED_IN: 60005,
  /** `initContext` was not called before createPusher/getPlayerInstance. */
  NO_CONTEXT: 60006,
  /** The connection dropped while a request was in flight. */
  CONNECTION_LOST: 60007,
  /** The feature needs a server capability this Duet server does not offer yet. */
  NOT_SUPPORTED: 60008,
  /** Reconnecting gave up: the session could be neither resumed nor logged in again. */
  RECONNECT_FAILED: 60009,
  /** The call was cancelled by logoutRoom or destroyEngine. */
  CANCELLED: 60010,
  /** <live-pusher> could not open the camera (WeChat -1301). */
  PUSH_CAMERA_FAILED: 60101,
  /** <live-pusher> could not open the microphone (WeChat -1302). */
  PUSH_MIC_FAILED: 60102,
  /** <live-pusher> could not encode (WeChat -1303 video, -1304 audio). */
  PUSH_ENCODE_FAILED: 60103,
  /** <live-pusher> gave up after its own retries (WeChat -1307). */
  PUSH_FAILED: 60104,
  /** The push or play was interrupted by a phone or WeChat call (WeChat 5001). */
  INTERRUPTED_BY_CALL: 60105,
  /** Browser: the screen could not be captured (the user declined, or the page may not). */
  SCREEN_CAPTURE_FAILED: 60106,
  /** <live-player> gave up after its own retries (WeChat -2301). */
  PLAY_FAILED: 60201,
  /** <live-player> could not get the play URL (WeChat -2302). */
  PLAY_URL_FAILED: 60202,
  /** DNS lookup of the media server failed (WeChat 3001). */
  MEDIA_DNS_FAILED: 60301,
  /** The media server could not be reached (WeChat 3002). */
  MEDIA_CONNECT_FAILED: 60302,
  /** The RTMP handshake failed (WeChat 3003). */
  MEDIA_HANDSHAKE_FAILED: 60303,
  /** The media server closed the connection (WeChat 3004): often a refused or expired URL. */
  MEDIA_SERVER_CLOSED: 60304,
  /** Reading or writing media failed (WeChat 3005). */
  MEDIA_IO_FAILED: 60305,
  /** Browser: the server refused a WHIP or WHEP request; extendedData has its status, code and message. */
  WEBRTC_REFUSED: 60401,
  /** Browser: this browser cannot send H.264, the only video Duet takes over WebRTC (docs/webrtc.md). */
  WEBRTC_NO_H264: 60402
};
function duetError(code, msg) {
  return { code, msg };
}

// ../miniprogram/src/core/logger.ts
var RANK = { debug: 0, info: 1, warn: 2, error: 3, report: 4, disable: 5 };
var MAX_BUFFERED = 500;
var MAX_BATCH_BYTES = 48 * 1024;
var MAX_ENTRY_CHARS = 2e3;
var FLUSH_EVERY_MS = 1e4;
var Logger = class {
  constructor(defaultURL, identity, now, platform) {
    this.identity = identity;
    this.now = now;
    this.platform = platform;
    this.level = "info";
    this.remoteLevel = "disable";
    this.verbose = true;
    this.dropped = 0;
    this.buffer = [];
    this.uploading = false;
    this.url = defaultURL;
  }
  configure(config) {
    for (const l of [config.logLevel, config.remoteLogLevel]) {
      if (l !== void 0 && !(l in RANK)) return false;
    }
    if (config.logURL !== void 0 && !/^https?:\/\//.test(config.logURL)) return false;
    if (config.logLevel) this.level = config.logLevel;
    if (config.remoteLogLevel) this.remoteLevel = config.remoteLogLevel;
    if (config.logURL) this.url = config.logURL;
    this.schedule();
    return true;
  }
  debug(message) {
    this.log("debug", message);
  }
  info(message) {
    this.log("info", message);
  }
  warn(message) {
    this.log("warn", message);
  }
  error(message) {
    this.log("error", message);
  }
  log(level, message) {
    if (message.length > MAX_ENTRY_CHARS) message = message.slice(0, MAX_ENTRY_CHARS) + "…";
    if (this.verbose && RANK[level] >= RANK[this.level] && this.level !== "disable") {
      const line = `duet [${level}] ${message}`;
      if (level === "error") console.error(line);
      else if (level === "warn") console.warn(line);
      else console.log(line);
    }
    if (this.remoteLevel !== "disable" && RANK[level] >= RANK[this.remoteLevel]) {
      this.buffer.push({ time: this.now(), level, message });
      if (this.buffer.length > MAX_BUFFERED) {
        this.dropped += this.buffer.length - MAX_BUFFERED;
        this.buffer.splice(0, this.buffer.length - MAX_BUFFERED);
      }
      if (this.buffer.length >= 50) this.flush();
    }
  }
  /** Takes the upload credential a server reply carries (login, resume, renewToken). */
  adoptCredential(reply) {
    if (typeof reply.logToken === "string" && reply.logToken !== "") this.identity.logToken = reply.logToken;
  }
  /** Uploads what is buffered now (one batch at a time); failures keep the entries. */
  flush() {
    if (this.uploading || this.buffer.length === 0 || this.remoteLevel === "disable") return Promise.resolve();
    if (this.identity.logToken === void 0) return Promise.resolve();
    const batch = [];
    let bytes = 512;
    for (const e of this.buffer) {
      bytes += e.message.length * 3 + 64;
      if (bytes > MAX_BATCH_BYTES && batch.length > 0) break;
      batch.push(e);
    }
    const body = { ...this.identity, dropped: this.dropped, entries: batch };
    this.uploading = true;
    const sent = (status) => {
      if (status >= 200 && status < 300) {
        this.buffer.splice(0, batch.length);
        this.dropped = 0;
      } else if (status === 401) {
        if (this.identity.logToken === body.logToken) this.identity.logToken = void 0;
      } else if (status >= 400 && status < 500 && status !== 429) {
        this.buffer.splice(0, batch.length);
      }
      this.uploading = false;
    };
    return this.platform.postJSON(this.url, JSON.stringify(body), 1e4).then(sent, () => sent(0));
  }
  schedule() {
    if (this.remoteLevel === "disable") {
      if (this.timer !== void 0) clearInterval(this.timer);
      this.timer = void 0;
    } else if (this.timer === void 0) {
      this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    }
  }
  /** Sends what is left and stops the timer. */
  close() {
    if (this.timer !== void 0) clearInterval(this.timer);
    this.timer = void 0;
    return this.flush();
  }
};
function deviceID(platform) {
  try {
    const known = platform.load("duet_device_id");
    if (known) return known;
    const id = `d${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
    platform.save("duet_device_id", id);
    return id;
  } catch {
    return "unknown";
  }
}
function logURLFor(server) {
  const m = /^(wss?):\/\/([^/?#]+)/.exec(server);
  if (!m) return "";
  return `${m[1] === "wss" ? "https" : "http"}://${m[2]}/httplog`;
}

// ../miniprogram/src/core/stream_states.ts
var StreamStates = class {
  constructor(emitter) {
    this.emitter = emitter;
    this.publishing = /* @__PURE__ */ new Map();
    this.playing = /* @__PURE__ */ new Map();
  }
  setPublishState(streamID, state, errorCode, extended) {
    const p = this.publishing.get(streamID);
    if (p) {
      if (p.state === state && p.errorCode === errorCode) return;
      p.state = state;
      p.errorCode = errorCode;
    }
    this.emitter.emit("publisherStateUpdate", { streamID, state, errorCode, extendedData: extended });
  }
  setPlayState(streamID, state, errorCode, extended = "") {
    let p = this.playing.get(streamID);
    if (!p) {
      p = { state: "NO_PLAY", errorCode: 0 };
      this.playing.set(streamID, p);
    }
    if (p.state === state && p.errorCode === errorCode) return;
    p.state = state;
    p.errorCode = errorCode;
    this.emitter.emit("playerStateUpdate", { streamID, state, errorCode, extendedData: extended });
  }
  /** Quality of the stream `id` (published or played), made by `stats` with its last sound level. */
  quality(id, stats) {
    const pub = this.publishing.get(id);
    if (pub) {
      this.emitter.emit("publishQualityUpdate", id, stats(pub.soundLevel));
      return;
    }
    const play = this.playing.get(id);
    if (play) this.emitter.emit("playQualityUpdate", id, stats(play.soundLevel));
  }
  /** The sound level of the stream `id` (published: captured; played: received). */
  volume(id, volume) {
    const pub = this.publishing.get(id);
    if (pub) {
      pub.soundLevel = volume;
      this.emitter.emit("capturedSoundLevelUpdate", volume);
      return;
    }
    const play = this.playing.get(id);
    if (play) {
      play.soundLevel = volume;
      this.emitter.emit("soundLevelUpdate", [{ streamID: id, soundLevel: volume }]);
    }
  }
  /** The next fallback push URL of a published stream ("" when not publishing it). */
  nextUrl(streamID) {
    const p = this.publishing.get(streamID);
    if (!p) return "";
    p.next = (p.next + 1) % p.urls.length;
    return p.urls[p.next];
  }
};

// ../miniprogram/src/core/presence.ts
var Presence = class {
  constructor(emitter, logger) {
    this.emitter = emitter;
    this.logger = logger;
    this.rooms = /* @__PURE__ */ new Map();
    this.streams = new StreamStates(emitter);
  }
  roomState(roomID, state, reason, code, extended) {
    this.emitter.emit("roomStateUpdate", roomID, state, code, extended);
    this.emitter.emit("roomStateChanged", roomID, reason, code, extended);
  }
  /**
   * Reserves `streamID` in `roomID` on `conn` and keeps its push URLs (with `streamParams`);
   * again after a new login, so the URLs are always the newest session's.
   */
  async publish(conn, roomID, streamID, extraInfo, streamParams) {
    const reply = await conn.request("publish", { roomID, streamID, extraInfo });
    const urls = (reply.urls && reply.urls.length ? reply.urls : [reply.url]).map((u) => withParams(u, streamParams));
    const whipURL = reply.whipURL ? withParams(reply.whipURL, streamParams) : "";
    const previous = this.streams.publishing.get(streamID);
    this.streams.publishing.set(streamID, {
      roomID,
      extraInfo,
      urls,
      whipURL,
      streamParams,
      next: 0,
      state: previous ? previous.state : "NO_PUBLISH",
      errorCode: 0
    });
    this.logger.info(`publishing ${streamID} in room ${roomID}`);
    return { streamID, url: urls[0], whipURL };
  }
  /** Ends the device's side of publishing `streamID` (its pusher, NO_PUBLISH); the caller tells the server. */
  unpublish(streamID, code) {
    const p = this.streams.publishing.get(streamID);
    if (!p) return void 0;
    this.streams.publishing.delete(streamID);
    if (this.media) this.media.unbindPusher(streamID);
    if (p.state !== "NO_PUBLISH") this.emitter.emit("publisherStateUpdate", { streamID, state: "NO_PUBLISH", errorCode: code, extendedData: "" });
    return p;
  }
  stopPlaying(streamID) {
    const p = this.streams.playing.get(streamID);
    this.streams.playing.delete(streamID);
    if (this.media) this.media.unbindPlayer(streamID);
    if (p && p.state !== "NO_PLAY") this.emitter.emit("playerStateUpdate", { streamID, state: "NO_PLAY", errorCode: 0, extendedData: "" });
  }
  /**
   * Forgets a room and what this user published there (and, out of every room, what it plays).
   * False when not in the room. The caller announces the room's end (`roomState`).
   */
  forget(roomID, code) {
    if (!this.rooms.delete(roomID)) return false;
    for (const [streamID, p] of [...this.streams.publishing]) {
      if (p.roomID === roomID) this.unpublish(streamID, code);
    }
    if (this.rooms.size === 0) {
      for (const streamID of [...this.streams.playing.keys()]) this.stopPlaying(streamID);
    }
    return true;
  }
};
function withParams(url, params) {
  if (!params) return url;
  const extra = params.replace(/^[?&]+/, "");
  return extra ? `${url}${url.indexOf("?") >= 0 ? "&" : "?"}${extra}` : url;
}

// ../miniprogram/src/core/protocol.ts
var PROTOCOL = 1;
var OP_SET = {
  login: true,
  resume: true,
  logout: true,
  renewToken: true,
  ping: true,
  sendBroadcastMessage: true,
  sendBarrageMessage: true,
  sendCustomCommand: true,
  setRoomExtraInfo: true,
  setStreamExtraInfo: true,
  publish: true,
  stopPublish: true,
  play: true,
  addPublishCdnUrl: true,
  removePublishCdnUrl: true,
  startMixerTask: true,
  stopMixerTask: true,
  reportQuality: true
};
var PUSH_SET = {
  hello: true,
  roomUserUpdate: true,
  roomOnlineUserCountUpdate: true,
  roomStreamUpdate: true,
  streamExtraInfoUpdate: true,
  roomExtraInfoUpdate: true,
  IMRecvBroadcastMessage: true,
  IMRecvBarrageMessage: true,
  IMRecvCustomCommand: true,
  publisherStateUpdate: true,
  tokenWillExpire: true,
  kickout: true,
  roomResync: true,
  close: true
};
var OPS = Object.keys(OP_SET);
var PUSHES = Object.keys(PUSH_SET);
function isPushName(name) {
  return Object.prototype.hasOwnProperty.call(PUSH_SET, name);
}
var ServerError = {
  bad_frame: 4e4,
  unknown_op: 40001,
  invalid_field: 40002,
  frame_too_large: 40003,
  not_logged_in: 40004,
  rate_limited: 40005,
  unsupported_protocol: 40006,
  unknown_app: 40100,
  token_malformed: 40101,
  token_bad_signature: 40102,
  token_wrong_app: 40103,
  token_expired: 40104,
  token_user_mismatch: 40105,
  token_login_denied: 40106,
  token_room_mismatch: 40107,
  token_publish_denied: 40108,
  token_stream_not_allowed: 40109,
  room_full: 40300,
  already_in_room: 40301,
  not_in_room: 40302,
  stream_taken: 40303,
  stream_not_owned: 40304,
  user_mismatch: 40305,
  resume_failed: 40306,
  too_many_keys: 40307,
  too_many_relays: 40308,
  room_on_other_node: 40309,
  mixer_task_limit: 40310,
  room_not_found: 40400,
  user_not_found: 40401,
  stream_not_found: 40402,
  mixer_task_not_found: 40403,
  kicked_out: 41e3,
  kicked_by_server: 41001,
  heartbeat_timeout: 41002,
  abusive: 41003,
  server_shutdown: 41004,
  room_closed: 41005,
  server_draining: 41006,
  publish_interrupted: 41100,
  stopped_by_server: 41101,
  internal: 5e4,
  mixer_unavailable: 50001,
  registry_unavailable: 50002
};

// ../miniprogram/src/core/room_events.ts
function applyRoomEvent(room, push, emitter) {
  switch (push.name) {
    case "roomUserUpdate": {
      const { updateType, userList = [] } = push.data;
      for (const u of userList) {
        if (updateType === "ADD") room.users.set(u.userID, u);
        else room.users.delete(u.userID);
      }
      if (room.config.userUpdate) emitter.emit("roomUserUpdate", room.roomID, updateType, userList);
      return true;
    }
    case "roomOnlineUserCountUpdate":
      if (room.onlineCount !== push.data.count) {
        room.onlineCount = push.data.count;
        emitter.emit("roomOnlineUserCountUpdate", room.roomID, push.data.count);
      }
      return true;
    case "roomStreamUpdate": {
      const { updateType, streamList = [] } = push.data;
      for (const s of streamList) {
        if (updateType === "ADD") room.streams.set(s.streamID, s);
        else room.streams.delete(s.streamID);
      }
      emitter.emit("roomStreamUpdate", room.roomID, updateType, streamList, "");
      return true;
    }
    case "streamExtraInfoUpdate": {
      const streamList = push.data.streamList || [];
      for (const s of streamList) {
        const known = room.streams.get(s.streamID);
        if (known) known.extraInfo = s.extraInfo;
      }
      emitter.emit("streamExtraInfoUpdate", room.roomID, streamList);
      return true;
    }
    case "roomExtraInfoUpdate": {
      const list = push.data.roomExtraInfoList || [];
      for (const e of list) room.extraInfo.set(e.key, e);
      emitter.emit("roomExtraInfoUpdate", room.roomID, list);
      return true;
    }
    case "IMRecvBroadcastMessage":
    case "IMRecvBarrageMessage":
      emitter.emit(push.name, room.roomID, push.data.messageList || []);
      return true;
    case "IMRecvCustomCommand":
      emitter.emit("IMRecvCustomCommand", room.roomID, push.data.fromUser, push.data.command);
      return true;
    default:
      return false;
  }
}
function emitDiff(room, diff, emitter) {
  const id = room.roomID;
  if (room.config.userUpdate) {
    if (diff.usersRemoved.length) emitter.emit("roomUserUpdate", id, "DELETE", diff.usersRemoved);
    if (diff.usersAdded.length) emitter.emit("roomUserUpdate", id, "ADD", diff.usersAdded);
  }
  if (diff.onlineCount !== void 0) emitter.emit("roomOnlineUserCountUpdate", id, diff.onlineCount);
  if (diff.streamsRemoved.length) emitter.emit("roomStreamUpdate", id, "DELETE", diff.streamsRemoved, "");
  if (diff.streamsAdded.length) emitter.emit("roomStreamUpdate", id, "ADD", diff.streamsAdded, "");
  if (diff.extraInfoChanged.length) emitter.emit("roomExtraInfoUpdate", id, diff.extraInfoChanged);
}

// ../miniprogram/src/core/connection.ts
var REQUEST_TIMEOUT_MS = 1e4;
var OPEN_TIMEOUT_MS = 1e4;
var Connection = class {
  constructor(url, platform, log, handlers) {
    this.url = url;
    this.platform = platform;
    this.log = log;
    this.handlers = handlers;
    this.nextId = 1;
    this.pending = /* @__PURE__ */ new Map();
    this.done = false;
    /** Pushes wait here until replies read in the same tick have been acted on. */
    this.pushes = [];
    this.flushing = false;
  }
  /** Connects and resolves with the server's hello; rejects with NETWORK_UNREACHABLE. */
  open() {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (why) => {
        if (settled) return;
        settled = true;
        this.done = true;
        clearTimeout(timer);
        this.teardown();
        reject(duetError(SdkError.NETWORK_UNREACHABLE, `cannot reach ${this.url}: ${why}`));
      };
      const timer = setTimeout(() => fail("no hello within 10 s"), OPEN_TIMEOUT_MS);
      const message = (data) => {
        const frame = this.parse(data);
        if (!frame) return;
        if (!settled && frame.push === "hello") {
          const hello = frame.data || {};
          if (hello.protocol !== PROTOCOL) {
            fail(`the server speaks protocol ${hello.protocol}, this SDK ${PROTOCOL}`);
            return;
          }
          settled = true;
          clearTimeout(timer);
          this.hello = hello;
          this.startHeartbeat(hello.heartbeatMs);
          resolve(hello);
          return;
        }
        this.dispatch(frame);
      };
      try {
        this.socket = this.platform.connect(this.url, OPEN_TIMEOUT_MS, {
          message,
          error: (why) => settled ? this.lost() : fail(why || "socket error"),
          closed: (code) => settled ? this.lost() : fail(`closed (${code})`)
        });
      } catch (err) {
        fail(String(err));
      }
    });
  }
  /** The server's `close` push, once it sent one (also when it refused the connection before its hello). */
  get closedBy() {
    return this.serverClose;
  }
  /** Sends a request; resolves with the reply's data or rejects with {code, msg}. */
  request(op, data, timeoutMs = REQUEST_TIMEOUT_MS) {
    if (this.done || !this.socket) {
      return Promise.reject(duetError(SdkError.CONNECTION_LOST, "not connected"));
    }
    const id = this.nextId++;
    const frame = JSON.stringify({ id, op, data });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(duetError(SdkError.REQUEST_TIMEOUT, `no reply to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.log.debug(`→ ${op} #${id}`);
      this.socket.send(frame, () => this.settle(id, void 0, duetError(SdkError.CONNECTION_LOST, `cannot send ${op}`)));
    });
  }
  /** Closes the socket on purpose: `ended` is not reported, pending requests are cancelled. */
  close() {
    if (this.done) return;
    this.done = true;
    this.failPending(duetError(SdkError.CANCELLED, "the connection was closed"));
    this.teardown();
  }
  parse(data) {
    if (typeof data !== "string") {
      this.log.warn("ignored a binary frame from the server");
      return void 0;
    }
    try {
      const frame = JSON.parse(data);
      return frame && typeof frame === "object" ? frame : void 0;
    } catch {
      this.log.warn("ignored a frame that is not JSON");
      return void 0;
    }
  }
  dispatch(frame) {
    if (typeof frame.push === "string") {
      const data = frame.data && typeof frame.data === "object" ? frame.data : {};
      if (frame.push === "close") this.serverClose = closeOf(data);
      if (!isPushName(frame.push)) {
        this.log.debug(`ignored the unknown push ${frame.push}`);
        return;
      }
      this.queuePush({ name: frame.push, seq: typeof frame.seq === "number" ? frame.seq : void 0, data });
    } else if (typeof frame.id === "number") {
      if (frame.code === 0) this.settle(frame.id, frame.data || {}, void 0);
      else this.settle(frame.id, void 0, duetError(frame.code, frame.message || frame.reason || "refused"));
    }
  }
  /**
   * A push may arrive in the same tick as the reply it follows (a login reply, then a room
   * event): the code awaiting the reply runs in a microtask, so pushes are handed on two
   * microtask hops later, in order, once that code has registered what the push refers to.
   */
  queuePush(push) {
    this.pushes.push(push);
    if (this.flushing) return;
    this.flushing = true;
    Promise.resolve().then(() => void 0).then(() => {
      this.flushing = false;
      const batch = this.pushes;
      this.pushes = [];
      for (const p of batch) this.handlers.push(p);
    });
  }
  settle(id, data, err) {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(data);
  }
  startHeartbeat(everyMs) {
    const interval = Math.max(1e3, everyMs || 1e4);
    this.heartbeat = setInterval(() => {
      this.request("ping", {}, interval * 2).catch((err) => {
        if (err.code === SdkError.REQUEST_TIMEOUT) {
          this.log.warn("heartbeat unanswered; dropping the connection");
          this.lost();
        }
      });
    }, interval);
  }
  lost() {
    if (this.done) return;
    this.done = true;
    this.failPending(duetError(SdkError.CONNECTION_LOST, "the connection dropped"));
    this.teardown();
    Promise.resolve().then(() => void 0).then(() => void 0).then(() => this.handlers.ended(this.serverClose || { code: SdkError.CONNECTION_LOST, reason: "connection_lost" }));
  }
  failPending(err) {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
  }
  teardown() {
    if (this.heartbeat !== void 0) clearInterval(this.heartbeat);
    this.heartbeat = void 0;
    const socket = this.socket;
    this.socket = void 0;
    if (socket) {
      try {
        socket.close();
      } catch {
      }
    }
  }
};
function closeOf(data) {
  const ended = { code: Number(data.code) || 0, reason: String(data.reason || "") };
  if (Array.isArray(data.servers)) ended.servers = data.servers.filter((s) => typeof s === "string" && /^wss?:\/\/\S+$/.test(s));
  return ended;
}

// ../miniprogram/src/core/pending.ts
var PendingOps = class {
  constructor() {
    this.ops = [];
  }
  get size() {
    return this.ops.length;
  }
  /** Queues a logout of `roomID`; what else was queued for that room is dropped (publishes rejected with `err`). */
  logout(roomID, err) {
    this.dropRoom(roomID, err);
    this.ops.push({ kind: "logout", roomID });
  }
  /** Queues sending the room's token; an earlier one for the room is replaced. */
  renewToken(roomID) {
    this.remove((op) => op.kind === "renewToken" && op.roomID === roomID);
    this.ops.push({ kind: "renewToken", roomID });
  }
  /** Queues a stop of a stream the server may hold for this session. */
  stopPublish(roomID, streamID) {
    this.ops.push({ kind: "stopPublish", roomID, streamID });
  }
  /**
   * Queues a publish of `streamID` in `roomID` and adds `waiter` to those waiting for it. It
   * cancels a queued stop of the stream in the same room (the reservation is simply kept) and
   * absorbs an earlier queued publish of it (whose waiters then get this one's result).
   */
  publish(op, waiter) {
    const earlier = this.findPublish(op.streamID);
    let waiters = [waiter];
    let cancelled;
    if (earlier && earlier.roomID === op.roomID) {
      this.remove((o) => o === earlier);
      waiters = [...earlier.waiters, waiter];
      cancelled = earlier.cancelled;
    }
    const stop = this.ops.find((o) => o.kind === "stopPublish" && o.streamID === op.streamID && o.roomID === op.roomID);
    if (stop) {
      this.remove((o) => o === stop);
      cancelled = stop;
    }
    this.ops.push({ kind: "publish", ...op, waiters, cancelled });
  }
  /**
   * Takes back a queued publish of `streamID` (its waiters get `err`). Returns it, so the caller
   * can tell whether the stop it cancelled must be queued again, or undefined when none was queued.
   */
  cancelPublish(streamID, err) {
    const op = this.findPublish(streamID);
    if (!op) return void 0;
    this.remove((o) => o === op);
    rejectPublishes([op], err);
    return op;
  }
  /** Forgets everything queued for `roomID` (the room was left); publishes are rejected with `err`. */
  dropRoom(roomID, err) {
    rejectPublishes(this.remove((o) => o.roomID === roomID), err);
  }
  /** Forgets everything (the session is gone); publishes are rejected with `err`. */
  clear(err) {
    rejectPublishes(this.remove(() => true), err);
  }
  /** Takes the oldest operation to send, if any. */
  next() {
    return this.ops.shift();
  }
  /** Puts an operation that could not be sent back at the front. */
  putBack(op) {
    this.ops.unshift(op);
  }
  findPublish(streamID) {
    return this.ops.find((o) => o.kind === "publish" && o.streamID === streamID);
  }
  remove(pred) {
    const gone = this.ops.filter(pred);
    this.ops = this.ops.filter((op) => !pred(op));
    return gone;
  }
};
function rejectPublishes(ops, err) {
  for (const op of ops) if (op.kind === "publish") for (const w of op.waiters) w.reject(err);
}

// ../miniprogram/src/core/pushes.ts
function handlePush(push, to) {
  const { presence, logger } = to;
  const emitter = presence.emitter;
  const roomID = push.data.roomID;
  const room = typeof roomID === "string" ? presence.rooms.get(roomID) : void 0;
  if (push.seq !== void 0 && (!room || !room.accept(push.seq))) return;
  if (room && applyRoomEvent(room, push, emitter)) return;
  switch (push.name) {
    case "publisherStateUpdate": {
      const { streamID, state, errorCode } = push.data;
      if (presence.streams.publishing.has(streamID)) presence.streams.setPublishState(streamID, state, errorCode || 0, "");
      return;
    }
    case "tokenWillExpire":
      if (room) {
        logger.warn(`the token of room ${room.roomID} expires at ${push.data.tokenExpire}; call renewToken`);
        emitter.emit("tokenWillExpire", room.roomID);
      }
      return;
    case "kickout":
      if (room) {
        logger.warn(`kicked out of room ${room.roomID}: ${push.data.reason} (${push.data.code})`);
        to.kickedOut(room.roomID, push.data.code);
      }
      return;
    case "roomResync":
      if (room) emitDiff(room, room.apply(push.data), emitter);
      return;
    case "close":
    case "hello":
      return;
    default:
      if (!room) logger.debug(`ignored push ${push.name}`);
  }
}

// ../miniprogram/src/core/recovery.ts
var ENDED_CODES = [ServerError.token_expired, ServerError.kicked_out, ServerError.kicked_by_server, ServerError.room_closed];
var NOT_NOW_CODES = [ServerError.registry_unavailable];
var CONNECTION_CODES = [SdkError.CONNECTION_LOST, SdkError.REQUEST_TIMEOUT, SdkError.CANCELLED];
async function resume(conn, ids, host) {
  const { presence, logger } = host;
  const rooms = {};
  for (const room of presence.rooms.values()) rooms[room.roomID] = room.seq;
  let reply;
  try {
    reply = await conn.request("resume", { ...ids, rooms });
  } catch (e) {
    const err = e;
    if (ENDED_CODES.indexOf(err.code) >= 0) {
      logger.warn(`the session was ended while away: ${err.code} ${err.msg}`);
      return { ended: err };
    }
    if (err.code !== ServerError.resume_failed) throw err;
    logger.warn("the session could not be resumed; logging in again");
    return "lost";
  }
  const held = /* @__PURE__ */ new Set();
  for (const r of reply.rooms || []) {
    held.add(r.roomID);
    const room = presence.rooms.get(r.roomID);
    if (room && typeof r.onlineCount === "number" && r.onlineCount !== room.onlineCount) {
      room.onlineCount = r.onlineCount;
      presence.emitter.emit("roomOnlineUserCountUpdate", room.roomID, r.onlineCount);
    }
  }
  logger.adoptCredential(reply);
  logger.info(`session ${ids.sessionID} resumed`);
  return held;
}
async function loginAgain(conn, rooms, host) {
  for (const room of rooms) {
    if (!host.presence.rooms.has(room.roomID)) continue;
    let reply;
    try {
      reply = await conn.request("login", host.loginData(room));
    } catch (e) {
      const err = e;
      if (err.code >= 6e4 || NOT_NOW_CODES.indexOf(err.code) >= 0) throw err;
      host.logger.error(`cannot log into ${room.roomID} again: ${err.code} ${err.msg}`);
      host.leave(room.roomID, "RECONNECT_FAILED", err.code);
      continue;
    }
    host.adopt(reply);
    const known = [...room.streams.values()];
    room.streams = /* @__PURE__ */ new Map();
    const diff = room.apply(reply);
    diff.streamsRemoved = known;
    emitDiff(room, diff, host.presence.emitter);
    await publishAgain(conn, room.roomID, host.presence);
  }
}
async function publishAgain(conn, roomID, presence) {
  const streams = presence.streams;
  for (const [streamID, p] of streams.publishing) {
    if (p.roomID !== roomID) continue;
    try {
      await presence.publish(conn, roomID, streamID, p.extraInfo, p.streamParams);
    } catch (e) {
      const err = e;
      streams.setPublishState(streamID, "NO_PUBLISH", err.code, err.msg);
      presence.unpublish(streamID, err.code);
    }
  }
}
async function sendPending(conn, held, host) {
  for (let op = host.pending.next(); op; op = host.pending.next()) {
    try {
      await sendOp(conn, op, held, host);
    } catch (e) {
      host.pending.putBack(op);
      throw e;
    }
  }
}
async function sendOp(conn, op, held, host) {
  const { presence, logger } = host;
  const room = presence.rooms.get(op.roomID);
  switch (op.kind) {
    case "logout":
      if (held.has(op.roomID)) await quietly(logger, conn.request("logout", { roomID: op.roomID }), `logout of ${op.roomID}`, true);
      return;
    case "stopPublish":
      if (held.has(op.roomID)) await quietly(logger, conn.request("stopPublish", { streamID: op.streamID }), `stopPublish ${op.streamID}`, true);
      return;
    case "renewToken":
      if (room && held.has(op.roomID)) {
        const reply = await quietly(logger, conn.request("renewToken", { token: room.token, roomID: op.roomID }), `renewToken of ${op.roomID}`, true);
        if (reply) {
          room.tokenExpire = reply.tokenExpire;
          logger.adoptCredential(reply);
        }
      }
      return;
    case "publish": {
      if (!room) {
        for (const w of op.waiters) w.reject(duetError(SdkError.NOT_LOGGED_IN, `not in room ${op.roomID}`));
        return;
      }
      let result;
      try {
        result = await presence.publish(conn, op.roomID, op.streamID, op.extraInfo, op.streamParams);
      } catch (e) {
        if (CONNECTION_CODES.indexOf(e.code) >= 0) throw e;
        for (const w of op.waiters) w.reject(e);
        return;
      }
      for (const w of op.waiters) w.resolve(result);
      return;
    }
  }
}
function quietly(logger, request, what, rethrowConnection = false) {
  return request.catch((err) => {
    if (rethrowConnection && CONNECTION_CODES.indexOf(err.code) >= 0) throw err;
    if (err.code === SdkError.CANCELLED) logger.debug(`${what}: ${err.msg}`);
    else logger.warn(`${what}: ${err.msg}`);
    return void 0;
  });
}

// ../miniprogram/src/core/retry.ts
var BACKOFF_MS = [500, 1e3, 2e3, 4e3, 8e3];
var Retrier = class {
  constructor(windowMs, now, attempt, gaveUp) {
    this.windowMs = windowMs;
    this.now = now;
    this.attempt = attempt;
    this.gaveUp = gaveUp;
    /** Counts starts and stops, so an attempt can tell whether it still belongs to this run. */
    this.run = 0;
    this.active = false;
    this.running = false;
    this.attempts = 0;
    this.deadline = 0;
    this.waiters = [];
  }
  get retrying() {
    return this.active;
  }
  /** Whether `run` is still the current, unstopped run. */
  current(run) {
    return this.active && run === this.run;
  }
  start() {
    if (this.active) return;
    this.active = true;
    this.run++;
    this.attempts = 0;
    this.deadline = this.now() + this.windowMs;
    this.schedule(0);
  }
  /** Try now instead of waiting out the backoff. */
  soon() {
    if (this.active && !this.running) this.schedule(0);
  }
  stop() {
    if (this.timer !== void 0) clearTimeout(this.timer);
    this.timer = void 0;
    this.active = false;
    this.run++;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
  /** Resolves when the retrying ends (at once when not retrying). */
  settled() {
    return this.active ? new Promise((resolve) => this.waiters.push(resolve)) : Promise.resolve();
  }
  schedule(delay) {
    if (this.timer !== void 0) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = void 0;
      void this.fire();
    }, delay);
  }
  async fire() {
    if (!this.active || this.running) return;
    const run = this.run;
    this.running = true;
    this.attempts++;
    let outcome = "failed";
    try {
      outcome = await this.attempt(run);
    } finally {
      this.running = false;
    }
    if (outcome === "done" || !this.current(run)) return;
    if (this.now() >= this.deadline) {
      this.stop();
      this.gaveUp();
      return;
    }
    const base = BACKOFF_MS[Math.min(this.attempts - 1, BACKOFF_MS.length - 1)];
    this.schedule(Math.round(base * (1 + Math.random() * 0.2)));
  }
};

// ../miniprogram/src/core/room.ts
function playedFrom(s) {
  return (s.urlsRTMP && s.urlsRTMP[0] || "").split("?")[0];
}
function moved(before, after) {
  return playedFrom(before) !== playedFrom(after);
}
var Room = class {
  constructor(roomID, token, user, config) {
    this.roomID = roomID;
    this.token = token;
    this.user = user;
    this.config = config;
    this.seq = 0;
    this.users = /* @__PURE__ */ new Map();
    this.streams = /* @__PURE__ */ new Map();
    this.extraInfo = /* @__PURE__ */ new Map();
    this.onlineCount = 0;
    this.tokenExpire = 0;
  }
  /** Replaces what is known with the snapshot and returns the difference. */
  apply(snap) {
    const users = new Map((snap.users || []).map((u) => [u.userID, u]));
    const streams = new Map((snap.streams || []).map((s) => [s.streamID, s]));
    const diff = {
      usersAdded: [...users.values()].filter((u) => !this.users.has(u.userID)),
      usersRemoved: [...this.users.values()].filter((u) => !users.has(u.userID)),
      streamsAdded: [...streams.values()].filter((s) => !this.streams.has(s.streamID) || moved(this.streams.get(s.streamID), s)),
      streamsRemoved: [...this.streams.values()].filter((s) => !streams.has(s.streamID) || moved(s, streams.get(s.streamID))),
      extraInfoChanged: (snap.extraInfo || []).filter((e) => {
        const before = this.extraInfo.get(e.key);
        return !before || before.value !== e.value || before.updateTime !== e.updateTime;
      }),
      onlineCount: snap.onlineCount !== void 0 && snap.onlineCount !== this.onlineCount ? snap.onlineCount : void 0
    };
    this.users = users;
    this.streams = streams;
    for (const e of snap.extraInfo || []) this.extraInfo.set(e.key, e);
    if (snap.onlineCount !== void 0) this.onlineCount = snap.onlineCount;
    if (snap.tokenExpire) this.tokenExpire = snap.tokenExpire;
    this.seq = snap.seq || 0;
    return diff;
  }
  /** Takes a room event's `seq`; false when it was seen already (a replay after resume). */
  accept(seq) {
    if (seq === void 0) return true;
    if (seq <= this.seq) return false;
    this.seq = seq;
    return true;
  }
};

// ../miniprogram/src/core/session.ts
var RECONNECT_WINDOW_MS = 5 * 60 * 1e3;
var TERMINAL_CLOSE = ["kicked_out", "kicked_by_server", "room_closed", "abusive"];
function loggedOut(roomID) {
  return duetError(SdkError.CANCELLED, `cancelled by logoutRoom(${roomID})`);
}
var Session = class {
  constructor(cfg) {
    this.cfg = cfg;
    /** Set by enableMultiRoom before the first login. */
    this.multiRoom = false;
    this.serverIndex = 0;
    this.pending = new PendingOps();
    this.pendingLogins = 0;
    this.destroyed = false;
    this.pushTarget = {
      presence: this.cfg.presence,
      logger: this.cfg.logger,
      kickedOut: (roomID, code) => {
        this.leave(roomID, "KICKOUT", code);
        this.closeIfIdle();
      }
    };
    this.servers = [...cfg.servers];
    this.retry = new Retrier(RECONNECT_WINDOW_MS, () => Date.now(), (run) => this.reconnectOnce(run), () => this.reconnectFailed());
    let stop = () => {
    };
    try {
      stop = cfg.platform.onWake(() => {
        if (!this.destroyed) this.retry.soon();
      });
    } catch {
    }
    this.stopWaking = stop;
  }
  get presence() {
    return this.cfg.presence;
  }
  get logger() {
    return this.cfg.logger;
  }
  /** The connection to send on now: open and carrying the session (not while it is being recovered). */
  live() {
    return this.retry.retrying ? void 0 : this.conn;
  }
  /**
   * Logs into a room (after any reconnect under way) and enters it; the caller announces it.
   * Rejects with the server's refusal or the SDK's connection errors.
   */
  async login(roomID, token, user, config) {
    this.pendingLogins++;
    try {
      if (this.retry.retrying) {
        this.retry.soon();
        await this.retry.settled();
      }
      const conn = await this.connection();
      const reply = await conn.request("login", this.loginData({ roomID, token, user, config }));
      if (this.destroyed) throw duetError(SdkError.DESTROYED, "the engine was destroyed");
      this.adopt(reply);
      this.logger.identity.userID = user.userID;
      this.logger.identity.roomID = roomID;
      const room = new Room(roomID, token, user, config);
      this.presence.rooms.set(roomID, room);
      return { room, diff: room.apply(reply) };
    } finally {
      this.pendingLogins--;
    }
  }
  /** Leaves rooms the page logged out of: tells the server now, or once the session is back. */
  logout(roomIDs) {
    const conn = this.live();
    const sent = [];
    for (const roomID of roomIDs) {
      if (conn) sent.push(quietly(this.logger, conn.request("logout", { roomID }), `logout of ${roomID}`));
      this.leave(roomID, "LOGOUT", 0);
      if (!conn && this.retry.retrying) this.pending.logout(roomID, loggedOut(roomID));
    }
    Promise.all(sent).then(() => {
      if (this.conn === conn) this.closeIfIdle();
    });
  }
  /** Sends the rooms' new token now, or once the session is back. */
  renewToken(rooms, token, roomID) {
    for (const room of rooms) room.token = token;
    const conn = this.live();
    if (!conn) {
      if (this.retry.retrying) for (const room of rooms) this.pending.renewToken(room.roomID);
      return;
    }
    conn.request("renewToken", roomID === void 0 ? { token } : { token, roomID }).then((reply) => {
      for (const room of rooms) room.tokenExpire = reply.tokenExpire;
      this.logger.adoptCredential(reply);
      this.logger.info("token renewed");
    }).catch((err) => this.logger.error(`renewToken refused: ${err.code} ${err.msg}`));
  }
  /** Reserves a stream now, or once the session is back (the promise waits for that). */
  publish(roomID, streamID, extraInfo, streamParams) {
    const conn = this.live();
    if (conn) return this.presence.publish(conn, roomID, streamID, extraInfo, streamParams);
    if (!this.retry.retrying) return Promise.reject(duetError(SdkError.CONNECTION_LOST, "not connected to the server"));
    this.logger.info(`publishing ${streamID} once the connection is back`);
    return new Promise((resolve, reject) => this.pending.publish({ roomID, streamID, extraInfo, streamParams }, { resolve, reject }));
  }
  /**
   * Takes back a publish queued while away (its promise rejects with CANCELLED). Returns it, or
   * undefined when none was queued.
   */
  cancelQueuedPublish(streamID) {
    return this.pending.cancelPublish(streamID, duetError(SdkError.CANCELLED, `stopPublishingStream(${streamID}) was called before the publish was sent`));
  }
  /** Releases a stream the server may hold for this session: now, or once the session is back. */
  stopPublish(roomID, streamID) {
    const conn = this.live();
    if (conn) void quietly(this.logger, conn.request("stopPublish", { streamID }), `stopPublish ${streamID}`);
    else if (this.retry.retrying) this.pending.stopPublish(roomID, streamID);
  }
  /** Forgets a room and says why; out of every room, stops reconnecting and drops what waited. */
  leave(roomID, reason, code) {
    if (!this.presence.forget(roomID, code)) return;
    const err = code === 0 ? loggedOut(roomID) : duetError(code, `left room ${roomID}: ${reason}`);
    this.pending.dropRoom(roomID, err);
    if (this.presence.rooms.size === 0) {
      this.retry.stop();
      this.pending.clear(err);
    }
    this.presence.roomState(roomID, "DISCONNECTED", reason, code, "");
  }
  /** Closes the socket when nothing needs it: no room, no login under way, no reconnect. */
  closeIfIdle() {
    if (this.presence.rooms.size === 0 && this.pendingLogins === 0 && !this.retry.retrying) this.closeConnection();
  }
  destroy() {
    this.destroyed = true;
    this.stopWaking();
    this.retry.stop();
    this.pending.clear(duetError(SdkError.DESTROYED, "the engine was destroyed"));
    this.closeConnection();
  }
  // ---- connection ---------------------------------------------------------------------
  /** What `login` sends for `room` (also when logging in again). */
  loginData(room) {
    return {
      protocol: PROTOCOL,
      appID: this.cfg.appID,
      roomID: room.roomID,
      token: room.token,
      user: room.user,
      userUpdate: room.config.userUpdate,
      maxMemberCount: room.config.maxMemberCount,
      multiRoom: this.multiRoom
    };
  }
  adopt(reply) {
    this.ids = { sessionID: reply.sessionID, resumeToken: reply.resumeToken };
    this.logger.identity.sessionID = reply.sessionID;
    this.logger.adoptCredential(reply);
  }
  /** The open connection, or a new one through the server list (the last good one first). */
  connection() {
    if (this.conn) return Promise.resolve(this.conn);
    if (!this.connecting) {
      this.connecting = this.connectAny().then(
        (c) => {
          this.connecting = void 0;
          return c;
        },
        (e) => {
          this.connecting = void 0;
          throw e;
        }
      );
    }
    return this.connecting;
  }
  /** Each server once, from the last good one (or the first a draining server named). */
  async connectAny() {
    let last = duetError(SdkError.NETWORK_UNREACHABLE, "no server");
    const tried = /* @__PURE__ */ new Set();
    let queue = this.inOrder();
    for (let url = queue.shift(); url !== void 0; url = queue.shift()) {
      if (tried.has(url)) continue;
      tried.add(url);
      const conn = new Connection(url, this.cfg.platform, this.logger, {
        push: (push) => {
          if (conn === this.conn && !this.destroyed) handlePush(push, this.pushTarget);
        },
        ended: (why) => this.onEnded(conn, why)
      });
      try {
        await conn.open();
        if (this.destroyed) {
          conn.close();
          throw duetError(SdkError.DESTROYED, "the engine was destroyed");
        }
        this.serverIndex = this.servers.indexOf(url);
        this.conn = conn;
        this.logger.info(`connected to ${url}`);
        return conn;
      } catch (e) {
        last = e;
        this.logger.warn(last.msg);
        if (this.redirect(conn.closedBy)) queue = this.inOrder();
      }
    }
    throw last;
  }
  inOrder() {
    const n = this.servers.length;
    return this.servers.map((_, i) => this.servers[(this.serverIndex + i) % n]);
  }
  /**
   * A draining server (`server_draining`) names the servers to go to: they are tried first from
   * now on, before the page's own list. Returns whether it did.
   */
  redirect(why) {
    var _a;
    if ((why == null ? void 0 : why.reason) !== "server_draining" || !((_a = why.servers) == null ? void 0 : _a.length)) return false;
    this.servers = [.../* @__PURE__ */ new Set([...why.servers, ...this.cfg.servers])];
    this.serverIndex = 0;
    this.logger.info(`the server is draining; going to ${why.servers[0]}`);
    return true;
  }
  closeConnection() {
    const conn = this.conn;
    this.conn = void 0;
    if (conn) conn.close();
    if (this.presence.rooms.size === 0) this.ids = void 0;
  }
  onEnded(conn, why) {
    if (conn !== this.conn) return;
    this.conn = void 0;
    this.logger.warn(`connection ended: ${why.reason} (${why.code})`);
    if (this.destroyed || this.presence.rooms.size === 0) return;
    if (TERMINAL_CLOSE.indexOf(why.reason) >= 0) {
      for (const id of [...this.presence.rooms.keys()]) this.leave(id, "KICKOUT", why.code);
      this.ids = void 0;
      return;
    }
    this.redirect(why);
    if (this.retry.retrying) return;
    for (const id of this.presence.rooms.keys()) this.presence.roomState(id, "CONNECTING", "RECONNECTING", why.code, "");
    this.retry.start();
  }
  // ---- recovery -----------------------------------------------------------------------
  /** One attempt to get back into every room (run `run` of the retrier). */
  async reconnectOnce(run) {
    if (this.destroyed) return "done";
    try {
      const conn = await this.connection();
      if (!this.retry.current(run)) return this.gone();
      const resumed = this.ids ? await resume(conn, this.ids, this) : "lost";
      if (!(resumed instanceof Set)) this.ids = void 0;
      if (resumed !== "lost" && !(resumed instanceof Set)) {
        for (const id of [...this.presence.rooms.keys()]) this.leave(id, "KICKOUT", resumed.ended.code);
        this.retry.stop();
        return this.gone();
      }
      if (!this.retry.current(run)) return this.gone();
      const held = resumed instanceof Set ? resumed : /* @__PURE__ */ new Set();
      const missing = [...this.presence.rooms.values()].filter((room) => !held.has(room.roomID));
      if (missing.length > 0) await loginAgain(conn, missing, this);
      if (!this.retry.current(run)) return this.gone();
      await sendPending(conn, held, this);
      if (!this.retry.current(run)) return this.gone();
      this.retry.stop();
      for (const id of this.presence.rooms.keys()) this.presence.roomState(id, "CONNECTED", "RECONNECTED", 0, "");
      this.closeIfIdle();
      return "done";
    } catch (e) {
      const err = e;
      this.logger.warn(`reconnect attempt failed: ${err.code} ${err.msg}`);
      return "failed";
    }
  }
  /** The rooms that needed the reconnect are gone (logged out, kicked): drop the socket if idle. */
  gone() {
    this.closeIfIdle();
    return "done";
  }
  reconnectFailed() {
    for (const id of [...this.presence.rooms.keys()]) this.leave(id, "RECONNECT_FAILED", SdkError.RECONNECT_FAILED);
    this.closeIfIdle();
  }
};

// ../miniprogram/src/core/engine_core.ts
var VERSION = "0.1.0";
var STREAM_ID = /^[0-9A-Za-z_-]{1,256}$/;
function isNonEmptyString(v) {
  return typeof v === "string" && v.length > 0;
}
function streamIDProblem(streamID) {
  return typeof streamID === "string" && STREAM_ID.test(streamID) ? "" : "streamID must be 1–256 characters of 0-9, A-Z, a-z, _ and -";
}
function checkStreamID(streamID) {
  const problem = streamIDProblem(streamID);
  if (problem) throw duetError(SdkError.INVALID_ARGUMENT, problem);
}
function describe(err) {
  return err instanceof Error ? `${err.message}
${err.stack || ""}` : String(err);
}
var EngineCore = class {
  constructor(appID, server, platform, platformEvents = []) {
    this.destroyed = false;
    if (typeof appID !== "number" || !Number.isInteger(appID) || appID <= 0 || appID > 4294967295) {
      throw new Error(`DuetEngine: appID must be the app's numeric AppID (a positive integer), got ${JSON.stringify(appID)}`);
    }
    const servers = (Array.isArray(server) ? server : [server]).filter(isNonEmptyString);
    if (servers.length === 0) {
      throw new Error('DuetEngine: server must be the signaling address, e.g. "wss://rtc.example.com/ws"');
    }
    for (const s of servers) {
      if (!/^wss?:\/\/[^/]+/.test(s)) {
        throw new Error(`DuetEngine: server "${s}" is not a ws:// or wss:// address`);
      }
    }
    this.logger = new Logger(logURLFor(servers[0]), { appID, sdkVersion: VERSION, deviceID: deviceID(platform) }, () => Date.now(), platform);
    this.emitter = new Emitter((event, err) => this.logger.error(`a ${event} handler threw: ${describe(err)}`), platformEvents);
    this.presence = new Presence(this.emitter, this.logger);
    this.session = new Session({ appID, servers, platform, presence: this.presence, logger: this.logger });
    this.quality = new QualityReporter(this.emitter, this.presence, this.logger, () => this.session.live());
  }
  // ---- rooms --------------------------------------------------------------------------
  enableMultiRoom(enable) {
    if (this.presence.rooms.size > 0) {
      this.logger.warn("enableMultiRoom must be called before loginRoom");
      return false;
    }
    this.session.multiRoom = !!enable;
    return true;
  }
  async loginRoom(roomID, token, user, config) {
    if (this.destroyed) throw duetError(SdkError.DESTROYED, "the engine was destroyed");
    if (!isNonEmptyString(roomID)) throw duetError(SdkError.INVALID_ARGUMENT, "roomID must be a non-empty string");
    if (!isNonEmptyString(token)) throw duetError(SdkError.INVALID_ARGUMENT, "token must be a non-empty string");
    if (!user || !isNonEmptyString(user.userID)) {
      throw duetError(SdkError.INVALID_ARGUMENT, "user must be {userID, userName?} with a non-empty userID");
    }
    if (this.presence.rooms.has(roomID)) throw duetError(ServerError.already_in_room, `already in room ${roomID}`);
    const cfg = { userUpdate: !!(config && config.userUpdate), maxMemberCount: config && config.maxMemberCount || 0 };
    const who = { userID: user.userID, userName: user.userName === void 0 ? user.userID : String(user.userName) };
    this.presence.roomState(roomID, "CONNECTING", "LOGINING", 0, "");
    let entered;
    try {
      entered = await this.session.login(roomID, token, who, cfg);
    } catch (e) {
      const err = e;
      this.logger.error(`login to room ${roomID} failed: ${err.code} ${err.msg}`);
      this.presence.roomState(roomID, "DISCONNECTED", "LOGIN_FAILED", err.code, JSON.stringify({ msg: err.msg }));
      this.session.closeIfIdle();
      throw err;
    }
    this.presence.roomState(roomID, "CONNECTED", "LOGINED", 0, "");
    emitDiff(entered.room, entered.diff, this.emitter);
    this.logger.info(`logged into room ${roomID} as ${who.userID}`);
    return true;
  }
  logoutRoom(roomID) {
    const rooms = this.presence.rooms;
    const targets = roomID === void 0 ? [...rooms.keys()] : rooms.has(roomID) ? [roomID] : [];
    if (targets.length === 0) {
      if (roomID !== void 0) this.logger.warn(`logoutRoom: not in room ${roomID}`);
      return;
    }
    this.session.logout(targets);
  }
  renewToken(token, roomID) {
    if (!isNonEmptyString(token)) return false;
    const rooms = this.presence.rooms;
    const targets = roomID === void 0 ? [...rooms.values()] : rooms.has(roomID) ? [rooms.get(roomID)] : [];
    if (targets.length === 0) return false;
    this.session.renewToken(targets, token, roomID);
    return true;
  }
  // ---- messages -----------------------------------------------------------------------
  sendBroadcastMessage(roomID, message) {
    return this.roomRequest(roomID, "sendBroadcastMessage", { roomID, message }, (r) => ({ errorCode: 0, messageID: r.messageID }));
  }
  sendBarrageMessage(roomID, message) {
    return this.roomRequest(roomID, "sendBarrageMessage", { roomID, message }, (r) => ({ errorCode: 0, messageID: r.messageID }));
  }
  sendCustomCommand(roomID, command, toUserIDList) {
    return this.roomRequest(roomID, "sendCustomCommand", { roomID, command, toUserIDList: toUserIDList || [] }, () => ({ errorCode: 0 }));
  }
  setRoomExtraInfo(roomID, key, value) {
    return this.roomRequest(roomID, "setRoomExtraInfo", { roomID, key, value }, () => ({ errorCode: 0 }));
  }
  setStreamExtraInfo(streamID, extraInfo) {
    const p = this.presence.streams.publishing.get(streamID);
    if (!p) return Promise.resolve({ errorCode: ServerError.stream_not_owned, extendedData: `not publishing ${streamID}` });
    p.extraInfo = extraInfo;
    return this.roomRequest(p.roomID, "setStreamExtraInfo", { streamID, extraInfo }, () => ({ errorCode: 0 }));
  }
  // ---- publishing and playing ---------------------------------------------------------
  /** Reserves `streamID` and resolves with its push URL; while reconnecting, once back. */
  async startPublishingStream(streamID, option) {
    checkStreamID(streamID);
    const opt = option || {};
    const rooms = this.presence.rooms;
    const roomID = opt.roomID !== void 0 ? opt.roomID : rooms.size === 1 ? [...rooms.keys()][0] : void 0;
    if (roomID === void 0 || !rooms.has(roomID)) {
      throw duetError(SdkError.NOT_LOGGED_IN, roomID === void 0 ? "log into a room first (or name one in option.roomID)" : `not in room ${roomID}`);
    }
    const extraInfo = typeof opt.extraInfo === "string" ? opt.extraInfo : "";
    try {
      return await this.session.publish(roomID, streamID, extraInfo, opt.streamParams);
    } catch (e) {
      const err = e;
      this.logger.error(`publish ${streamID} refused: ${err.code} ${err.msg}`);
      this.emitter.emit("publisherStateUpdate", { streamID, state: "NO_PUBLISH", errorCode: err.code, extendedData: err.msg });
      throw err;
    }
  }
  stopPublishingStream(streamID) {
    const p = this.presence.unpublish(streamID, 0);
    const queued = this.session.cancelQueuedPublish(streamID);
    if (p) this.session.stopPublish(p.roomID, streamID);
    else if (queued && queued.cancelled) this.session.stopPublish(queued.roomID, streamID);
    return !!(p || queued);
  }
  async startPlayingStream(streamID, option) {
    checkStreamID(streamID);
    if (this.presence.rooms.size === 0) throw duetError(SdkError.NOT_LOGGED_IN, "log into a room first");
    const opt = option || {};
    const streams = this.presence.streams;
    streams.setPlayState(streamID, "PLAY_REQUESTING", 0);
    try {
      const reply = await this.liveConnection().request("play", { streamID });
      const flv = [...reply.urlsHttpsFLV || [], ...reply.urlsFLV || []];
      const url = withParams(opt.sourceType === "CDN" && flv.length > 0 ? flv[0] : reply.url, opt.streamParams);
      this.logger.info(`playing ${streamID}`);
      return { streamID, url, whepURL: reply.whepURL ? withParams(reply.whepURL, opt.streamParams) : "" };
    } catch (e) {
      const err = e;
      this.logger.error(`play ${streamID} refused: ${err.code} ${err.msg}`);
      streams.setPlayState(streamID, "NO_PLAY", err.code);
      streams.playing.delete(streamID);
      throw err;
    }
  }
  /**
   * A fresh grant of a stream this engine publishes (its URLs signed again): the reservation
   * is renewed on the live connection. Undefined when it is not published or not connected.
   */
  async renewPublishGrant(streamID) {
    const p = this.presence.streams.publishing.get(streamID);
    const conn = this.session.live();
    if (!p || !conn) return void 0;
    return this.presence.publish(conn, p.roomID, streamID, p.extraInfo, p.streamParams);
  }
  /** A fresh play grant of `streamID` (its URLs signed again), without touching its state. */
  async renewPlayGrant(streamID, streamParams) {
    const conn = this.session.live();
    if (!conn || !this.presence.streams.playing.has(streamID)) return void 0;
    const reply = await conn.request("play", { streamID });
    return { streamID, url: reply.url, whepURL: reply.whepURL ? withParams(reply.whepURL, streamParams) : "" };
  }
  stopPlayingStream(streamID) {
    this.presence.stopPlaying(streamID);
  }
  getNextUrl(streamID) {
    return this.presence.streams.nextUrl(streamID);
  }
  /** Has the server relay a stream this user publishes to an RTMP URL (a CDN's ingest), or stop that. */
  relay(op, streamID, targetURL) {
    const p = this.presence.streams.publishing.get(streamID);
    if (!p) return Promise.resolve({ errorCode: ServerError.stream_not_owned, extendedData: `not publishing ${streamID}` });
    if (typeof targetURL !== "string" || !/^rtmp:\/\//.test(targetURL)) {
      return Promise.resolve({ errorCode: SdkError.INVALID_ARGUMENT, extendedData: "the URL must start with rtmp://" });
    }
    return this.roomRequest(p.roomID, op, { streamID, targetURL }, () => ({ errorCode: 0 }));
  }
  // ---- mixing -------------------------------------------------------------------------
  /**
   * Has the server start a mixer task (docs/mixing.md), or change the running one with the same
   * taskID. The config goes as the page gave it (the server reads and checks it); success
   * resolves with the reply (`{taskID, outputList}`) as JSON in `extendedData`. Without
   * `config.roomID` the server takes the engine's one room.
   */
  startMixerTask(config) {
    if (!config || typeof config !== "object" || Array.isArray(config) || !isNonEmptyString(config.taskID)) {
      return Promise.resolve({ errorCode: SdkError.INVALID_ARGUMENT, extendedData: "config must be an object with a non-empty string taskID" });
    }
    const asJSON = (reply) => ({ errorCode: 0, extendedData: JSON.stringify(reply) });
    if (config.roomID !== void 0) {
      if (!isNonEmptyString(config.roomID)) {
        return Promise.resolve({ errorCode: SdkError.INVALID_ARGUMENT, extendedData: "config.roomID must be a non-empty string when given" });
      }
      return this.roomRequest(config.roomID, "startMixerTask", config, asJSON);
    }
    if (this.presence.rooms.size === 0) return Promise.resolve({ errorCode: SdkError.NOT_LOGGED_IN, extendedData: "log into a room first" });
    return this.request("startMixerTask", config, asJSON);
  }
  /** Has the server stop a mixer task of the app (its output streams end). */
  stopMixerTask(taskID) {
    if (!isNonEmptyString(taskID)) return Promise.resolve({ errorCode: SdkError.INVALID_ARGUMENT, extendedData: "taskID must be a non-empty string" });
    if (this.presence.rooms.size === 0) return Promise.resolve({ errorCode: SdkError.NOT_LOGGED_IN, extendedData: "log into a room first" });
    return this.request("stopMixerTask", { taskID }, () => ({ errorCode: 0 }));
  }
  // ---- logs and life ------------------------------------------------------------------
  setLogConfig(config) {
    const ok = !!config && this.logger.configure(config);
    if (!ok) this.logger.warn("setLogConfig: logLevel/remoteLogLevel must be debug|info|warn|error|report|disable and logURL http(s)://");
    return ok;
  }
  /** Logs out of every room, closes the socket, flushes the logs and drops every handler. */
  destroy() {
    if (this.destroyed) return;
    this.logoutRoom();
    this.destroyed = true;
    this.session.destroy();
    this.quality.stop();
    void this.logger.close();
    this.emitter.clear();
    this.presence.media = void 0;
  }
  get isDestroyed() {
    return this.destroyed;
  }
  liveConnection() {
    const conn = this.session.live();
    if (!conn) throw duetError(SdkError.CONNECTION_LOST, "not connected to the server (reconnecting)");
    return conn;
  }
  roomRequest(roomID, op, data, ok) {
    if (!this.presence.rooms.has(roomID)) return Promise.resolve({ errorCode: SdkError.NOT_LOGGED_IN, extendedData: `not in room ${roomID}` });
    return this.request(op, data, ok);
  }
  /**
   * A request of a logged-in session, answered as `ZegoResult`: `ok` of the reply, or the
   * refusal's code and message. It does not wait for a reconnect: CONNECTION_LOST meanwhile.
   */
  request(op, data, ok) {
    const conn = this.session.live();
    if (!conn) return Promise.resolve({ errorCode: SdkError.CONNECTION_LOST, extendedData: "reconnecting; try again" });
    return conn.request(op, data).then(ok, (err) => ({ errorCode: err.code, extendedData: err.msg }));
  }
};

// ../miniprogram/src/core/engine_api.ts
var SharedEngine = class {
  constructor(appID, server, platform, platformEvents = []) {
    this.appID = appID;
    this.core = new EngineCore(appID, server, platform, platformEvents);
  }
  // ---- events -------------------------------------------------------------------------
  on(event, cb) {
    return this.core.emitter.on(event, cb);
  }
  off(event, cb) {
    return this.core.emitter.off(event, cb);
  }
  // ---- rooms and messages -------------------------------------------------------------
  enableMultiRoom(enable) {
    return this.core.enableMultiRoom(enable);
  }
  loginRoom(roomID, token, user, config) {
    return this.core.loginRoom(roomID, token, user, config);
  }
  logoutRoom(roomID) {
    this.core.logoutRoom(roomID);
  }
  renewToken(token, roomID) {
    return this.core.renewToken(token, roomID);
  }
  sendBroadcastMessage(roomID, message) {
    return this.core.sendBroadcastMessage(roomID, message);
  }
  sendBarrageMessage(roomID, message) {
    return this.core.sendBarrageMessage(roomID, message);
  }
  sendCustomCommand(roomID, command, toUserIDList) {
    return this.core.sendCustomCommand(roomID, command, toUserIDList);
  }
  setRoomExtraInfo(roomID, key, value) {
    return this.core.setRoomExtraInfo(roomID, key, value);
  }
  setStreamExtraInfo(streamID, extraInfo) {
    return this.core.setStreamExtraInfo(streamID, extraInfo);
  }
  // ---- relays and mixing --------------------------------------------------------------
  /** Has the server relay a stream this user publishes to an RTMP URL (a CDN's ingest). */
  addPublishCdnUrl(streamID, targetURL) {
    return this.core.relay("addPublishCdnUrl", streamID, targetURL);
  }
  removePublishCdnUrl(streamID, targetURL) {
    return this.core.relay("removePublishCdnUrl", streamID, targetURL);
  }
  /**
   * Has the server mix streams into output streams of the room (announced as published by
   * `$mixer:{taskID}`) and rtmp:// URLs, or change the running task with the same taskID
   * (docs/mixing.md). Resolves `{errorCode: 0, extendedData}` with the reply
   * `{taskID, outputList: [{streamID} | {url}]}` as JSON, or the refusal's code and message.
   */
  startMixerTask(config) {
    return this.core.startMixerTask(config);
  }
  /** Stops a mixer task of the app (its output streams end): `{errorCode}`, 40403 when none runs. */
  stopMixerTask(taskID) {
    return this.core.stopMixerTask(taskID);
  }
  // ---- logs and version ---------------------------------------------------------------
  setLogConfig(config) {
    return this.core.setLogConfig(config);
  }
  setDebugVerbose(enable) {
    this.core.logger.verbose = !!enable;
  }
  getVersion() {
    return VERSION;
  }
};

// src/capture.ts
var PRESETS = {
  1: { width: 320, height: 240, frameRate: 15 },
  2: { width: 640, height: 480, frameRate: 15 },
  3: { width: 1280, height: 720, frameRate: 20 }
};
function videoConstraints(o) {
  const preset = PRESETS[o.videoQuality || 2];
  const size = o.videoQuality === 4 || !preset ? { width: o.width || 640, height: o.height || 480, frameRate: o.frameRate || 15 } : preset;
  return { width: { ideal: size.width }, height: { ideal: size.height }, frameRate: { ideal: size.frameRate } };
}
async function capture(config, onScreenEnded) {
  const media = typeof navigator !== "undefined" ? navigator.mediaDevices : void 0;
  if (!media) throw duetError(SdkError.NOT_SUPPORTED, "this page has no navigator.mediaDevices (it must be served over https:// or from localhost)");
  if (config && config.screen) {
    const o = typeof config.screen === "object" ? config.screen : {};
    let stream;
    try {
      stream = await media.getDisplayMedia({ video: videoConstraints(o), audio: !!o.audio });
    } catch (e) {
      throw duetError(SdkError.SCREEN_CAPTURE_FAILED, `the screen could not be captured: ${describe2(e)}`);
    }
    const track = stream.getVideoTracks()[0];
    if (track) track.addEventListener("ended", () => onScreenEnded(stream));
    return stream;
  }
  const camera = config && config.camera || {};
  const wantVideo = camera.video !== false;
  const wantAudio = camera.audio !== false;
  if (!wantVideo && !wantAudio) throw duetError(SdkError.INVALID_ARGUMENT, "createStream: camera.audio and camera.video are both false");
  const video = wantVideo ? { ...videoConstraints(camera), ...camera.videoInput ? { deviceId: { exact: camera.videoInput } } : {}, ...camera.facingMode ? { facingMode: camera.facingMode } : {} } : false;
  const audio = wantAudio ? { ...camera.audioInput ? { deviceId: { exact: camera.audioInput } } : {}, ...camera.channelCount ? { channelCount: camera.channelCount } : {} } : false;
  try {
    return await media.getUserMedia({ video, audio });
  } catch (e) {
    throw await deviceError(e, wantVideo, wantAudio);
  }
}
async function deviceError(e, video, audio) {
  let cameraMissing = false;
  let micMissing = false;
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    cameraMissing = !devices.some((d) => d.kind === "videoinput");
    micMissing = !devices.some((d) => d.kind === "audioinput");
  } catch {
  }
  const mic = audio && (!video || micMissing && !cameraMissing);
  return mic ? duetError(SdkError.PUSH_MIC_FAILED, `the microphone could not be opened: ${describe2(e)}`) : duetError(SdkError.PUSH_CAMERA_FAILED, `the camera could not be opened: ${describe2(e)}`);
}
function describe2(e) {
  return e && typeof e === "object" && "name" in e ? `${e.name}: ${e.message || ""}` : String(e);
}
function h264Encoders() {
  const caps = typeof RTCRtpSender !== "undefined" && RTCRtpSender.getCapabilities ? RTCRtpSender.getCapabilities("video") : null;
  const codecs = caps ? caps.codecs : [];
  return codecs.filter((c) => /^video\/H264$/i.test(c.mimeType) && /packetization-mode=1/.test(c.sdpFmtpLine || ""));
}
async function systemRequirements() {
  const webRTC = typeof RTCPeerConnection !== "undefined";
  const media = typeof navigator !== "undefined" ? navigator.mediaDevices : void 0;
  const errInfo = {};
  let camera = false;
  let microphone = false;
  if (media && typeof media.enumerateDevices === "function") {
    try {
      const devices = await media.enumerateDevices();
      camera = devices.some((d) => d.kind === "videoinput");
      microphone = devices.some((d) => d.kind === "audioinput");
    } catch (e) {
      errInfo.camera = { name: "enumerateDevices", message: String(e) };
    }
  } else {
    errInfo.camera = errInfo.microphone = { name: "NotSupported", message: "no navigator.mediaDevices (https:// or localhost only)" };
  }
  if (!webRTC) errInfo.webRTC = { name: "NotSupported", message: "no RTCPeerConnection" };
  const H264 = webRTC && h264Encoders().length > 0;
  const VP8 = false;
  return {
    result: webRTC && H264,
    webRTC,
    customCapture: typeof HTMLCanvasElement !== "undefined" && typeof HTMLCanvasElement.prototype.captureStream === "function",
    camera,
    microphone,
    screenSharing: !!media && typeof media.getDisplayMedia === "function",
    videoCodec: { H264, VP8 },
    errInfo
  };
}

// src/devices.ts
async function enumDevices() {
  const media = typeof navigator !== "undefined" ? navigator.mediaDevices : void 0;
  const all2 = media && typeof media.enumerateDevices === "function" ? await media.enumerateDevices() : [];
  const of = (kind) => all2.filter((d) => d.kind === kind).map((d) => ({ deviceID: d.deviceId, deviceName: d.label }));
  return { microphones: of("audioinput"), speakers: of("audiooutput"), cameras: of("videoinput") };
}
async function soundLevel(pc, direction) {
  const report = await pc.getStats();
  let level = 0;
  report.forEach((s) => {
    const mine = direction === "send" ? s.type === "media-source" : s.type === "inbound-rtp";
    if (mine && s.kind === "audio" && typeof s.audioLevel === "number") level = s.audioLevel;
  });
  return Math.round(Math.min(1, Math.max(0, level)) * 100);
}

// src/exchange.ts
var POST_TIMEOUT_MS = 1e4;
var PASSING = ["stream_not_found", "stream_live", "webrtc_busy", "webrtc_app_busy", "webrtc_stream_busy", "internal"];
var RENEWABLE = ["url_expired", "url_bad_signature", "url_missing", "url_malformed"];
var Refusal = class {
  constructor(status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }
  /** Whether the same request may succeed later without the page doing anything. */
  get passing() {
    return this.status === 0 || this.status >= 500 || PASSING.indexOf(this.code) >= 0;
  }
  /** Whether a freshly signed URL may succeed where this one was refused. */
  get renewable() {
    return RENEWABLE.indexOf(this.code) >= 0;
  }
  /**
   * The refusal as the SDK reports it: the server's numeric code where it has one; else
   * `WEBRTC_REFUSED` for a refusal for good, `MEDIA_CONNECT_FAILED` for one tried again.
   */
  asError(what) {
    const known = ServerError[this.code];
    if (this.status === 0) return { code: SdkError.MEDIA_CONNECT_FAILED, msg: `${what}: ${this.message}` };
    const code = known !== void 0 ? known : this.passing ? SdkError.MEDIA_CONNECT_FAILED : SdkError.WEBRTC_REFUSED;
    return { code, msg: `${what}: ${this.status} ${this.code}: ${this.message}` };
  }
};
async function exchange(url, pc) {
  await pc.setLocalDescription(await pc.createOffer());
  const offer = pc.localDescription ? pc.localDescription.sdp : "";
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), POST_TIMEOUT_MS);
  let res;
  let body;
  try {
    res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: offer, signal: abort.signal });
    body = await res.text();
  } catch (e) {
    throw new Refusal(0, "network", `no answer from ${new URL(url).host}: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    clearTimeout(timer);
  }
  if (res.status !== 201) throw refusalOf(res.status, body);
  const location = res.headers.get("Location");
  const accepted = { location: location ? new URL(location, url).href : "" };
  if (pc.signalingState === "closed") return accepted;
  try {
    await pc.setRemoteDescription({ type: "answer", sdp: body });
  } catch (e) {
    void hangUp(accepted);
    throw e;
  }
  return accepted;
}
async function hangUp(accepted) {
  if (!accepted || !accepted.location) return;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 1e3);
  try {
    await fetch(accepted.location, { method: "DELETE", keepalive: true, signal: abort.signal });
  } catch {
  } finally {
    clearTimeout(timer);
  }
}
function refusalOf(status, body) {
  try {
    const parsed = JSON.parse(body);
    if (typeof parsed.code === "string") return new Refusal(status, parsed.code, typeof parsed.message === "string" ? parsed.message : "");
  } catch {
  }
  return new Refusal(status, `http_${status}`, body.slice(0, 200));
}

// src/link.ts
var CONNECT_TIMEOUT_MS = 15e3;
var DISCONNECTED_MS = 3e3;
var BACKOFF_MIN_MS = 500;
var BACKOFF_MAX_MS = 5e3;
var Link = class {
  constructor(what, owner, logger) {
    this.what = what;
    this.owner = owner;
    this.logger = logger;
    this.stopped = false;
    this.failures = 0;
    /** When the current peer connection connected (ms since the epoch; 0: not connected). */
    this.connectedAt = 0;
    /** The last URL was refused as expired or badly signed: the next try asks for a fresh one. */
    this.renew = false;
  }
  /** Starts the link; resolves with how its first try went. */
  start() {
    const first = new Promise((resolve) => this.firstTry = resolve);
    void this.attempt();
    return first;
  }
  /** The connected peer connection (for statistics), if any. */
  get connected() {
    return this.pc && this.pc.connectionState === "connected" ? this.pc : void 0;
  }
  /** Ends the link and the server's session of it. */
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.teardown();
    this.settleFirst({ ok: true });
  }
  /**
   * Something says trying again now may work (the session is back, the stream is announced
   * again): a link waiting out its backoff tries at once.
   */
  soon() {
    if (this.stopped || this.timer === void 0) return;
    clearTimeout(this.timer);
    this.failures = 0;
    void this.attempt();
  }
  /**
   * The server says the media does not reach it (before the browser noticed): make the link
   * again now, if it has been connected for `settleMs` (before that, media may be on its way;
   * a link still connecting is left to finish).
   */
  restart(err, settleMs) {
    if (this.stopped || !this.pc || this.connectedAt === 0) return;
    if (Date.now() - this.connectedAt >= settleMs) this.retry(err);
  }
  async attempt() {
    this.timer = void 0;
    if (this.stopped) return;
    let url;
    try {
      url = await this.owner.url(this.renew);
    } catch (e) {
      const err = e;
      return this.retry({ code: err.code || SdkError.CONNECTION_LOST, msg: `${this.what}: no fresh URL: ${err.msg || String(e)}` });
    }
    if (this.stopped) return;
    if (url === void 0) return this.stop();
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    this.pc = pc;
    try {
      this.owner.prepare(pc);
    } catch (e) {
      return this.fail(e);
    }
    pc.onconnectionstatechange = () => this.watch(pc);
    let accepted;
    try {
      accepted = await exchange(url, pc);
    } catch (e) {
      if (pc !== this.pc) return;
      if (!(e instanceof Refusal)) {
        return this.fail({ code: SdkError.WEBRTC_REFUSED, msg: `${this.what}: the answer could not be applied: ${e instanceof Error ? e.message : String(e)}` });
      }
      const err = e.asError(this.what);
      if (e.renewable && !this.renew) {
        this.renew = true;
        return this.retry({ ...err, code: SdkError.MEDIA_CONNECT_FAILED });
      }
      return e.passing ? this.retry(err) : this.fail(err);
    }
    this.renew = false;
    if (pc !== this.pc) return void hangUp(accepted);
    this.accepted = accepted;
    this.settleFirst({ ok: true });
    this.watchdog = setTimeout(() => {
      if (pc === this.pc && pc.connectionState !== "connected") {
        this.retry({ code: SdkError.MEDIA_CONNECT_FAILED, msg: `${this.what}: not connected ${CONNECT_TIMEOUT_MS / 1e3} s after the answer` });
      }
    }, CONNECT_TIMEOUT_MS);
  }
  watch(pc) {
    if (pc !== this.pc || this.stopped) return;
    const state = pc.connectionState;
    if (state === "connected") {
      clearTimeout(this.watchdog);
      this.connectedAt = Date.now();
      this.failures = 0;
      this.logger.info(`${this.what}: connected`);
      this.owner.up();
    } else if (state === "disconnected") {
      clearTimeout(this.watchdog);
      this.watchdog = setTimeout(() => {
        if (pc === this.pc && pc.connectionState !== "connected") {
          this.retry({ code: SdkError.MEDIA_SERVER_CLOSED, msg: `${this.what}: the connection was lost` });
        }
      }, DISCONNECTED_MS);
    } else if (state === "failed" || state === "closed") {
      this.retry({ code: SdkError.MEDIA_CONNECT_FAILED, msg: `${this.what}: the connection ${state}` });
    }
  }
  retry(err) {
    this.teardown();
    this.settleFirst({ ok: true });
    const delay = Math.min(BACKOFF_MIN_MS * 2 ** this.failures, BACKOFF_MAX_MS);
    this.failures++;
    this.logger.warn(`${err.msg}; trying again in ${delay} ms`);
    this.owner.retrying(err);
    if (!this.stopped) this.timer = setTimeout(() => void this.attempt(), delay);
  }
  fail(err) {
    this.logger.error(err.msg);
    this.teardown();
    this.stopped = true;
    this.settleFirst({ ok: false, err });
    this.owner.failed(err);
  }
  /**
   * Ends the current peer connection: the server's session first (`DELETE`), then the peer
   * connection (closed first, it would end the session itself and the `DELETE` find nothing).
   */
  teardown() {
    clearTimeout(this.watchdog);
    this.connectedAt = 0;
    const pc = this.pc;
    this.pc = void 0;
    if (pc) {
      pc.onconnectionstatechange = null;
      pc.ontrack = null;
    }
    const close = () => {
      if (pc) pc.close();
    };
    hangUp(this.accepted).then(close, close);
    this.accepted = void 0;
  }
  settleFirst(outcome) {
    const settle = this.firstTry;
    this.firstTry = void 0;
    if (settle) settle(outcome);
  }
};

// src/playback.ts
var Playback = class {
  constructor(streamID, whepURL, want, host) {
    this.streamID = streamID;
    this.whepURL = whepURL;
    /** What the page shows; its tracks change, the object does not. */
    this.stream = new MediaStream();
    this.muted = { video: false, audio: false };
    const { streams } = host;
    const playing = () => streams.playing.has(streamID);
    this.muted = { video: !want.video, audio: !want.audio };
    this.link = new Link(
      `play ${streamID}`,
      {
        url: async (renew) => {
          if (!playing()) return void 0;
          if (renew) this.whepURL = await host.renewURL(streamID) || this.whepURL;
          return this.whepURL;
        },
        prepare: (pc) => {
          pc.addTransceiver("video", { direction: "recvonly" });
          pc.addTransceiver("audio", { direction: "recvonly" });
          pc.ontrack = (e) => this.adopt(e.track);
        },
        up: () => {
          if (playing()) streams.setPlayState(streamID, "PLAYING", 0);
        },
        retrying: (err) => {
          if (playing()) streams.setPlayState(streamID, "PLAY_REQUESTING", err.code, err.msg);
        },
        failed: (err) => {
          if (playing()) streams.setPlayState(streamID, "NO_PLAY", err.code, err.msg);
          host.release(streamID);
        }
      },
      host.logger
    );
  }
  /** Starts playing; resolves once the server took the first offer (or will once the stream is live). */
  async start() {
    const first = await this.link.start();
    return first.ok ? void 0 : first.err;
  }
  stop() {
    this.link.stop();
    for (const track of this.stream.getTracks()) track.stop();
  }
  /** The stream is announced again, or the session is back: a link waiting to try again tries now. */
  soon() {
    this.link.soon();
  }
  mute(kind, mute) {
    this.muted[kind] = mute;
    for (const track of this.stream.getTracks()) if (track.kind === kind) track.enabled = !mute;
  }
  get peer() {
    return this.link.connected;
  }
  adopt(track) {
    for (const old of this.stream.getTracks()) {
      if (old.kind === track.kind && old !== track) {
        this.stream.removeTrack(old);
        old.stop();
      }
    }
    track.enabled = !this.muted[track.kind];
    if (this.stream.getTracks().indexOf(track) < 0) this.stream.addTrack(track);
  }
};

// src/publication.ts
var Publication = class {
  constructor(streamID, stream, host) {
    this.streamID = streamID;
    this.stream = stream;
    const { streams } = host;
    this.link = new Link(
      `publish ${streamID}`,
      {
        url: (renew) => host.whipURL(streamID, renew),
        prepare: (pc) => this.prepare(pc),
        up: () => {
        },
        retrying: (err) => {
          if (streams.publishing.has(streamID)) streams.setPublishState(streamID, "PUBLISH_REQUESTING", err.code, err.msg);
        },
        failed: (err) => {
          if (streams.publishing.has(streamID)) streams.setPublishState(streamID, "NO_PUBLISH", err.code, err.msg);
          host.release(streamID);
        }
      },
      host.logger
    );
  }
  start() {
    void this.link.start();
  }
  stop() {
    this.link.stop();
  }
  /** The session is back: a link waiting to try again tries now. */
  soon() {
    this.link.soon();
  }
  /**
   * The server says it has no media of this stream (PUBLISH_REQUESTING) while the link thinks
   * it is up: the server lost it (or restarted) before the browser noticed. Connect again now,
   * unless the link came up a moment ago.
   */
  interrupted(code) {
    this.link.restart({ code, msg: `publish ${this.streamID}: the server has no media of it` }, 2e3);
  }
  get peer() {
    return this.link.connected;
  }
  prepare(pc) {
    const video = this.stream.getVideoTracks()[0];
    if (!video) throw { code: SdkError.NOT_SUPPORTED, msg: `publish ${this.streamID}: the stream has no video track (Duet takes video with audio over WebRTC)` };
    const transceiver = pc.addTransceiver(video, { direction: "sendonly", streams: [this.stream] });
    const h264 = h264Encoders();
    if (h264.length === 0) throw { code: SdkError.WEBRTC_NO_H264, msg: `publish ${this.streamID}: this browser cannot send H.264 (packetization-mode 1)` };
    if (typeof transceiver.setCodecPreferences === "function") transceiver.setCodecPreferences(h264);
    for (const audio of this.stream.getAudioTracks().slice(0, 1)) pc.addTransceiver(audio, { direction: "sendonly", streams: [this.stream] });
  }
};

// src/quality.ts
function all(report) {
  const out = [];
  report.forEach((s) => out.push(s));
  return out;
}
function find(stats, type, kind) {
  return stats.find((s) => s.type === type && s.kind === kind) || {};
}
function codecOf(stats, rtp) {
  const codec = stats.find((s) => s.type === "codec" && s.id === rtp.codecId);
  return codec && typeof codec.mimeType === "string" ? codec.mimeType.split("/")[1] || "" : "";
}
var num = (v) => typeof v === "number" && isFinite(v) ? v : 0;
function rate(now, before, seconds) {
  return before === void 0 || seconds <= 0 || now < before ? 0 : (now - before) / seconds;
}
function grade(lossRate2, rttMs) {
  if (lossRate2 > 0.3 || rttMs > 1500) return 4;
  if (lossRate2 > 0.1 || rttMs > 600) return 3;
  if (lossRate2 > 0.03 || rttMs > 300) return 2;
  if (lossRate2 > 0.01 || rttMs > 150) return 1;
  return 0;
}
var lossRate = (lost, received) => lost + received > 0 ? lost / (lost + received) : 0;
function publishQuality(report, before, now, muted) {
  const stats = all(report);
  const video = find(stats, "outbound-rtp", "video");
  const audio = find(stats, "outbound-rtp", "audio");
  const videoRemote = find(stats, "remote-inbound-rtp", "video");
  const audioRemote = find(stats, "remote-inbound-rtp", "audio");
  const source = find(stats, "media-source", "video");
  const seconds = before ? (now - before.at) / 1e3 : 0;
  const counters = { at: now, vBytes: num(video.bytesSent), vFrames: num(video.framesSent), aBytes: num(audio.bytesSent), aPackets: num(audio.packetsSent) };
  const rttMs = num(videoRemote.roundTripTime || audioRemote.roundTripTime) * 1e3;
  const vLoss = num(videoRemote.fractionLost);
  const aLoss = num(audioRemote.fractionLost);
  return {
    counters,
    stats: {
      video: {
        videoBitrate: rate(counters.vBytes, before && before.vBytes, seconds) * 8 / 1e3,
        videoFPS: num(source.framesPerSecond) || num(video.framesPerSecond),
        videoTransferFPS: rate(counters.vFrames, before && before.vFrames, seconds),
        frameWidth: num(video.frameWidth),
        frameHeight: num(video.frameHeight),
        videoPacketsLost: num(videoRemote.packetsLost),
        videoPacketsLostRate: vLoss,
        videoQuality: grade(vLoss, rttMs),
        googCodecName: codecOf(stats, video),
        muteState: muted.video ? "1" : "0"
      },
      audio: {
        audioBitrate: rate(counters.aBytes, before && before.aBytes, seconds) * 8 / 1e3,
        audioFPS: rate(counters.aPackets, before && before.aPackets, seconds),
        audioPacketsLost: num(audioRemote.packetsLost),
        audioPacketsLostRate: aLoss,
        audioQuality: grade(aLoss, rttMs),
        audioCodec: codecOf(stats, audio).toLowerCase(),
        googCodecName: codecOf(stats, audio),
        muteState: muted.audio ? "1" : "0"
      },
      currentRoundTripTime: rttMs
    }
  };
}
function playQuality(report, before, now, muted) {
  const stats = all(report);
  const video = find(stats, "inbound-rtp", "video");
  const audio = find(stats, "inbound-rtp", "audio");
  const pair = stats.find((s) => s.type === "candidate-pair" && s.nominated && s.state === "succeeded") || {};
  const seconds = before ? (now - before.at) / 1e3 : 0;
  const counters = {
    at: now,
    vBytes: num(video.bytesReceived),
    vFrames: num(video.framesReceived),
    vDecoded: num(video.framesDecoded),
    vLost: num(video.packetsLost),
    vReceived: num(video.packetsReceived),
    aBytes: num(audio.bytesReceived),
    aLost: num(audio.packetsLost),
    aReceived: num(audio.packetsReceived)
  };
  const since = (key) => Math.max(0, counters[key] - (before ? before[key] : 0));
  const vLoss = lossRate(since("vLost"), since("vReceived"));
  const aLoss = lossRate(since("aLost"), since("aReceived"));
  const rttMs = num(pair.currentRoundTripTime) * 1e3;
  return {
    counters,
    stats: {
      video: {
        videoBitrate: rate(counters.vBytes, before && before.vBytes, seconds) * 8 / 1e3,
        videoFPS: rate(counters.vDecoded, before && before.vDecoded, seconds),
        videoTransferFPS: rate(counters.vFrames, before && before.vFrames, seconds),
        frameWidth: num(video.frameWidth),
        frameHeight: num(video.frameHeight),
        videoPacketsLost: counters.vLost,
        videoPacketsLostRate: vLoss,
        videoQuality: grade(vLoss, rttMs),
        videoFramesDecoded: counters.vDecoded,
        videoFramesDropped: num(video.framesDropped),
        googCodecName: codecOf(stats, video),
        muteState: muted.video ? "1" : "0"
      },
      audio: {
        audioBitrate: rate(counters.aBytes, before && before.aBytes, seconds) * 8 / 1e3,
        audioFPS: rate(counters.aReceived, before && before.aReceived, seconds),
        audioJitter: num(audio.jitter) * 1e3,
        audioLevel: num(audio.audioLevel),
        audioPacketsLost: counters.aLost,
        audioPacketsLostRate: aLoss,
        audioQuality: grade(aLoss, rttMs),
        audioCodec: codecOf(stats, audio).toLowerCase(),
        googCodecName: codecOf(stats, audio),
        muteState: muted.audio ? "1" : "0"
      },
      peerToPeerDelay: rttMs || void 0,
      peerToPeerPacketLostRate: void 0
    }
  };
}

// src/web_platform.ts
var webPlatform = {
  connect(url, timeoutMs, events) {
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    let settled = false;
    const timer = setTimeout(() => {
      if (socket.readyState === WebSocket.CONNECTING) {
        events.error(`no connection to ${url} within ${timeoutMs} ms`);
        socket.close();
      }
    }, timeoutMs);
    socket.onopen = () => clearTimeout(timer);
    socket.onmessage = (msg) => events.message(msg.data);
    socket.onerror = () => events.error(`socket error on ${url}`);
    socket.onclose = (e) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      events.closed(e.code);
    };
    return {
      send(text, failed) {
        if (socket.readyState !== WebSocket.OPEN) return failed();
        try {
          socket.send(text);
        } catch {
          failed();
        }
      },
      close() {
        clearTimeout(timer);
        try {
          socket.close(1e3, "bye");
        } catch {
        }
      }
    };
  },
  async postJSON(url, body, timeoutMs) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const res = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json" }, signal: abort.signal, keepalive: body.length < 6e4 });
      return res.status;
    } catch {
      return 0;
    } finally {
      clearTimeout(timer);
    }
  },
  load(key) {
    try {
      return window.localStorage.getItem(key) || "";
    } catch {
      return "";
    }
  },
  save(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch {
    }
  },
  onWake(wake) {
    const visible = () => {
      if (document.visibilityState === "visible") wake();
    };
    window.addEventListener("online", wake);
    document.addEventListener("visibilitychange", visible);
    return () => {
      window.removeEventListener("online", wake);
      document.removeEventListener("visibilitychange", visible);
    };
  }
};

// src/engine.ts
var QUALITY_EVERY_MS = 3e3;
var SOUND_LEVEL_MS = { min: 100, max: 3e3, default: 1e3 };
var DuetEngine = class extends SharedEngine {
  constructor(appID, server) {
    super(appID, server, webPlatform, ["screenSharingEnded"]);
    this.publications = /* @__PURE__ */ new Map();
    this.playbacks = /* @__PURE__ */ new Map();
    /** The previous report's counters of each stream, with the peer connection they came from. */
    this.counters = /* @__PURE__ */ new Map();
    this.mutedLocal = /* @__PURE__ */ new WeakMap();
    /** The last quality report of each stream (`get*StreamQuality`). */
    this.lastPublishStats = /* @__PURE__ */ new Map();
    this.lastPlayStats = /* @__PURE__ */ new Map();
    /** The latest start or stop of each played stream: an older call that finishes late gives way. */
    this.playCalls = /* @__PURE__ */ new Map();
    this.playCallCount = 0;
    /** `muteAllPlay*Streams`: applies to streams played later too. */
    this.allPlayMuted = { video: false, audio: false };
    const presence = this.core.presence;
    presence.media = {
      unbindPusher: (streamID) => this.endPublication(streamID),
      unbindPlayer: (streamID) => this.endPlayback(streamID)
    };
    this.core.emitter.listen("roomStateChanged", (_roomID, reason) => {
      if (reason !== "RECONNECTED") return;
      for (const p of this.publications.values()) p.soon();
      for (const p of this.playbacks.values()) p.soon();
    });
    this.core.emitter.listen("roomStreamUpdate", (_roomID, type, list) => {
      if (type !== "ADD") return;
      for (const s of list) {
        const p = this.playbacks.get(s.streamID);
        if (p) p.soon();
      }
    });
    this.core.emitter.listen("publisherStateUpdate", (r) => {
      if (r.state !== "PUBLISH_REQUESTING") return;
      const pub = this.publications.get(r.streamID);
      if (pub) pub.interrupted(r.errorCode);
    });
  }
  // ---- local streams -------------------------------------------------------------------
  /** Opens the camera and microphone (`{camera: {video, audio}}`, the default) or the screen (`{screen: true}`). */
  createStream(source) {
    if (this.core.isDestroyed) return Promise.reject(duetError(SdkError.DESTROYED, "the engine was destroyed"));
    return capture(source, (stream) => this.emit("screenSharingEnded", stream));
  }
  /** Stops every track of a stream `createStream` made (stop publishing it first). */
  destroyStream(localStream) {
    if (!localStream || typeof localStream.getTracks !== "function") return;
    for (const track of localStream.getTracks()) track.stop();
  }
  /** Sends black frames instead of the camera's (the track stays open), or the camera again. */
  mutePublishStreamVideo(localStream, mute) {
    return this.muteLocal(localStream, "video", mute);
  }
  /** Sends silence instead of the microphone, or the microphone again. */
  mutePublishStreamAudio(localStream, mute) {
    return this.muteLocal(localStream, "audio", mute);
  }
  // ---- publishing and playing ---------------------------------------------------------
  /**
   * Publishes `localStream` as `streamID` over WHIP. True when the publishing started; how it
   * goes is told by `publisherStateUpdate` (PUBLISH_REQUESTING, PUBLISHING, or NO_PUBLISH with
   * the error code). After a lost connection it publishes again by itself.
   */
  startPublishingStream(streamID, localStream, option) {
    const refuse = (why) => {
      this.core.logger.error(`startPublishingStream(${String(streamID)}): ${why}`);
      return false;
    };
    if (this.core.isDestroyed) return refuse("the engine was destroyed");
    const badID = streamIDProblem(streamID);
    if (badID) return refuse(badID);
    if (!localStream || typeof localStream.getVideoTracks !== "function") return refuse("localStream must be a MediaStream (from createStream)");
    if (localStream.getVideoTracks().length === 0) return refuse("the stream has no video track: Duet takes video (with or without audio) over WebRTC");
    if (option && option.videoCodec && option.videoCodec !== "H264") return refuse(`videoCodec ${option.videoCodec}: Duet takes H.264 only over WebRTC`);
    if (this.publications.has(streamID)) return refuse("already publishing this streamID");
    const publication = new Publication(streamID, localStream, {
      logger: this.core.logger,
      streams: this.core.presence.streams,
      whipURL: async (id, renew) => {
        const p = this.core.presence.streams.publishing.get(id);
        if (!p || !renew) return p ? p.whipURL : void 0;
        const grant = await this.core.renewPublishGrant(id);
        if (!grant) throw duetError(SdkError.CONNECTION_LOST, "not connected to the server (reconnecting)");
        return grant.whipURL;
      },
      release: (id) => this.core.stopPublishingStream(id)
    });
    this.publications.set(streamID, publication);
    this.core.startPublishingStream(streamID, { roomID: option && option.roomID, extraInfo: option && option.extraInfo, streamParams: option && option.streamParams }).then(
      (grant) => {
        if (this.publications.get(streamID) !== publication) {
          if (!this.publications.has(streamID)) this.core.stopPublishingStream(streamID);
          return;
        }
        if (!grant.whipURL) {
          this.core.presence.streams.setPublishState(streamID, "NO_PUBLISH", SdkError.NOT_SUPPORTED, "this Duet server offers no WHIP");
          this.core.stopPublishingStream(streamID);
          return;
        }
        publication.start();
        this.startQuality();
      },
      () => {
        if (this.publications.get(streamID) === publication) this.publications.delete(streamID);
      }
    );
    return true;
  }
  stopPublishingStream(streamID) {
    const known = this.publications.has(streamID);
    const stopped = this.core.stopPublishingStream(streamID);
    this.endPublication(streamID);
    return stopped || known;
  }
  /**
   * Plays `streamID` over WHEP. Resolves with a MediaStream for a `<video>`'s `srcObject` once
   * the server took the play (or will, once the stream is live: it keeps trying); rejects when
   * the server refuses for good. The same MediaStream carries on through reconnections.
   */
  async startPlayingStream(streamID, option) {
    if (this.core.isDestroyed) throw duetError(SdkError.DESTROYED, "the engine was destroyed");
    const opt = option || {};
    const call = this.newPlayCall(streamID);
    const superseded = () => this.playCalls.get(streamID) !== call;
    const cancelled = () => duetError(SdkError.CANCELLED, `startPlayingStream(${streamID}) was stopped or started again meanwhile`);
    if (this.playbacks.has(streamID)) this.endPlayback(streamID);
    const grant = await this.core.startPlayingStream(streamID, { streamParams: opt.streamParams });
    if (superseded()) throw cancelled();
    if (!grant.whepURL) {
      this.core.presence.streams.setPlayState(streamID, "NO_PLAY", SdkError.NOT_SUPPORTED, "this Duet server offers no WHEP");
      this.core.stopPlayingStream(streamID);
      throw duetError(SdkError.NOT_SUPPORTED, "this Duet server offers no WHEP");
    }
    const playback = new Playback(streamID, grant.whepURL, { video: opt.video !== false, audio: opt.audio !== false }, {
      logger: this.core.logger,
      streams: this.core.presence.streams,
      renewURL: async (id) => {
        const renewed = await this.core.renewPlayGrant(id, opt.streamParams);
        if (!renewed) throw duetError(SdkError.CONNECTION_LOST, "not connected to the server (reconnecting)");
        return renewed.whepURL;
      },
      release: (id) => this.core.stopPlayingStream(id)
    });
    if (this.allPlayMuted.video) playback.mute("video", true);
    if (this.allPlayMuted.audio) playback.mute("audio", true);
    this.playbacks.set(streamID, playback);
    this.startQuality();
    const refused = await playback.start();
    if (refused) throw refused;
    if (superseded() || this.playbacks.get(streamID) !== playback) throw cancelled();
    return playback.stream;
  }
  stopPlayingStream(streamID) {
    this.newPlayCall(streamID);
    this.core.stopPlayingStream(streamID);
    this.endPlayback(streamID);
  }
  mutePlayStreamVideo(streamID, mute) {
    const p = this.playbacks.get(streamID);
    if (p) p.mute("video", !!mute);
    return Promise.resolve(!!p);
  }
  mutePlayStreamAudio(streamID, mute) {
    const p = this.playbacks.get(streamID);
    if (p) p.mute("audio", !!mute);
    return Promise.resolve(!!p);
  }
  /** Mutes (or unmutes) the video of every stream played, now and later. */
  muteAllPlayVideoStreams(mute) {
    return Promise.resolve(this.muteAllPlayed("video", !!mute));
  }
  /** Mutes (or unmutes) the audio of every stream played, now and later. */
  muteAllPlayAudioStreams(mute) {
    return Promise.resolve(this.muteAllPlayed("audio", !!mute));
  }
  /** The last `publishQualityUpdate` of a stream, or null. */
  getPublishingStreamQuality(streamID) {
    return this.lastPublishStats.get(streamID) || null;
  }
  /** The last `playQualityUpdate` of a stream, or null. */
  getPlayingStreamQuality(streamID) {
    return this.lastPlayStats.get(streamID) || null;
  }
  // ---- devices and sound levels --------------------------------------------------------
  enumDevices() {
    return enumDevices();
  }
  async getCameras() {
    return (await enumDevices()).cameras;
  }
  async getMicrophones() {
    return (await enumDevices()).microphones;
  }
  async getSpeakers() {
    return (await enumDevices()).speakers;
  }
  /** Plays `media`'s sound on the speaker `deviceID` (where the browser can choose: `setSinkId`). */
  async useAudioOutputDevice(media, deviceID2) {
    const sink = media;
    if (!sink || typeof sink.setSinkId !== "function") return false;
    try {
      await sink.setSinkId(deviceID2);
      return true;
    } catch (e) {
      this.core.logger.warn(`useAudioOutputDevice(${deviceID2}): ${String(e)}`);
      return false;
    }
  }
  /**
   * Reports sound levels every `interval` ms (100–3000, default 1000) while enabled:
   * `soundLevelUpdate` for every stream published and played, `capturedSoundLevelUpdate`
   * for the first one published.
   */
  setSoundLevelDelegate(enable, interval) {
    clearInterval(this.soundTimer);
    this.soundTimer = void 0;
    if (!enable || this.core.isDestroyed) return;
    const every = Math.min(SOUND_LEVEL_MS.max, Math.max(SOUND_LEVEL_MS.min, Number(interval) || SOUND_LEVEL_MS.default));
    this.soundTimer = setInterval(() => void this.reportSoundLevels(), every);
  }
  // ---- logs, system and life ----------------------------------------------------------
  /** Whether this browser can publish and play with Duet (WebRTC with H.264), and its devices. */
  checkSystemRequirements() {
    return systemRequirements();
  }
  /** Stops publishing and playing, logs out of every room and closes the connection. */
  destroyEngine() {
    if (this.core.isDestroyed) return;
    for (const id of [...this.publications.keys()]) this.stopPublishingStream(id);
    for (const id of [...this.playbacks.keys()]) this.stopPlayingStream(id);
    this.core.destroy();
    clearInterval(this.qualityTimer);
    this.qualityTimer = void 0;
    clearInterval(this.soundTimer);
    this.soundTimer = void 0;
  }
  // ---- inside -------------------------------------------------------------------------
  /** Emits an event whose arguments are the browser's (the core's emitter knows the core's shapes). */
  emit(event, ...args) {
    this.core.emitter.emit(event, ...args);
  }
  endPublication(streamID) {
    const p = this.publications.get(streamID);
    if (!p) return;
    this.publications.delete(streamID);
    this.counters.delete(`publish:${streamID}`);
    this.lastPublishStats.delete(streamID);
    p.stop();
  }
  endPlayback(streamID) {
    const p = this.playbacks.get(streamID);
    if (!p) return;
    this.playbacks.delete(streamID);
    this.counters.delete(`play:${streamID}`);
    this.lastPlayStats.delete(streamID);
    p.stop();
  }
  muteLocal(stream, kind, mute) {
    if (!stream || typeof stream.getTracks !== "function") return false;
    const tracks = stream.getTracks().filter((t) => t.kind === kind);
    for (const track of tracks) track.enabled = !mute;
    const state = this.mutedLocal.get(stream) || { video: false, audio: false };
    state[kind] = !!mute;
    this.mutedLocal.set(stream, state);
    return tracks.length > 0;
  }
  /** Marks a start or stop of `streamID` as the latest. */
  newPlayCall(streamID) {
    this.playCallCount += 1;
    this.playCalls.set(streamID, this.playCallCount);
    return this.playCallCount;
  }
  muteAllPlayed(kind, mute) {
    this.allPlayMuted[kind] = mute;
    for (const p of this.playbacks.values()) p.mute(kind, mute);
    return true;
  }
  async reportSoundLevels() {
    const list = [];
    for (const [streamID, pub] of this.publications) {
      const pc = pub.peer;
      if (pc) list.push({ streamID, soundLevel: await soundLevel(pc, "send"), type: "push" });
    }
    for (const [streamID, play] of this.playbacks) {
      const pc = play.peer;
      if (pc) list.push({ streamID, soundLevel: await soundLevel(pc, "receive"), type: "pull" });
    }
    if (this.soundTimer === void 0 || list.length === 0) return;
    const captured = list.find((l) => l.type === "push");
    if (captured) this.emit("capturedSoundLevelUpdate", captured.soundLevel);
    this.emit("soundLevelUpdate", list);
  }
  /** Reports the quality of every connected stream every few seconds while there is any. */
  startQuality() {
    if (this.qualityTimer !== void 0) return;
    this.qualityTimer = setInterval(() => void this.reportQuality(), QUALITY_EVERY_MS);
  }
  /** The counters of the previous report of `key`, if it came from the same peer connection. */
  before(key, pc) {
    const previous = this.counters.get(key);
    return previous && previous.pc === pc ? previous.counters : void 0;
  }
  async reportQuality() {
    if (this.publications.size === 0 && this.playbacks.size === 0) {
      clearInterval(this.qualityTimer);
      this.qualityTimer = void 0;
      return;
    }
    for (const [id, pub] of this.publications) {
      const pc = pub.peer;
      if (!pc) continue;
      const key = `publish:${id}`;
      const muted = this.mutedLocal.get(pub.stream) || { video: false, audio: false };
      const { stats, counters } = publishQuality(await pc.getStats(), this.before(key, pc), Date.now(), muted);
      if (this.publications.get(id) !== pub) continue;
      this.counters.set(key, { pc, counters });
      this.lastPublishStats.set(id, stats);
      this.emit("publishQualityUpdate", id, stats);
    }
    for (const [id, play] of this.playbacks) {
      const pc = play.peer;
      if (!pc) continue;
      const key = `play:${id}`;
      const { stats, counters } = playQuality(await pc.getStats(), this.before(key, pc), Date.now(), play.muted);
      if (this.playbacks.get(id) !== play) continue;
      this.counters.set(key, { pc, counters });
      this.lastPlayStats.set(id, stats);
      this.emit("playQualityUpdate", id, stats);
    }
  }
};

// src/index.ts
var ZegoExpressEngine = DuetEngine;
export {
  DuetEngine,
  SdkError,
  VERSION,
  ZegoExpressEngine
};
