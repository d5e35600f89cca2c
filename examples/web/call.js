// The Web example: a video call in the browser with Duet's Web SDK, which has the hosted
// cloud's Web API (ZegoExpressEngine). It joins a room, publishes the camera and microphone,
// plays every other stream of the room (a tile each, from roomStreamUpdate ADD to DELETE), and
// sends and shows the room's broadcast messages: the same call as the mini-program example's
// video call pages (examples/miniprogram), so a browser and a phone can talk. Duet serves the
// SDK at /sdk/duet-web.js; settings come from config.js and the query string.
import config from "./config.js";

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const setting = (name) => query.get(name) || config[name];

const appID = Number(setting("appID"));
// The page imports the SDK from Duet: a link's query may point it only at a Duet on this
// machine or on the page's own host (anything else, and the SDK's own address, come from
// config.js), so no link makes the page run a script from elsewhere.
const server = trusted(query.get("server")) ? query.get("server") : config.server;
// ws://host/ws → http://host/sdk/duet-web.js (wss → https).
const sdkURL = config.sdkURL || server.replace(/^ws(s?):\/\/([^/]+).*$/, "http$1://$2/sdk/duet-web.js");
const tokenURL = new URL(config.tokenURL, location.href);

/** Whether `url` (a ws:// or wss:// address from the query) names this machine or this page's host. */
function trusted(url) {
  try {
    const host = new URL(url.replace(/^ws/, "http")).hostname;
    return /^wss?:\/\//.test(url) && ["127.0.0.1", "localhost", "[::1]", location.hostname].includes(host);
  } catch {
    return false;
  }
}

let zg;
/** The call under way: {roomID, userID, streamID, loggedIn, localStream, muted: {audio, video}}, or null. */
let call = null;
/** The tiles of remote streams, by streamID. */
const remotes = new Map();
let localTile = null;

// ---- what the page shows -------------------------------------------------------------

/** A line in the event log (kept to the last 200); `bad` lines are errors. */
function log(text, bad = false) {
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  if (bad) li.className = "bad";
  const list = $("log");
  list.append(li);
  while (list.children.length > 200) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
  (bad ? console.error : console.log)(text);
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = false;
  log(text, true);
}

/** An SDK error ({code, msg}), an Error, or anything, as "code message". */
function describe(err) {
  if (err && typeof err === "object") return [err.code, err.msg || err.message].filter((v) => v !== undefined && v !== "").join(" ");
  return String(err);
}

function addTile(streamID, name, local) {
  const el = $("tileTemplate").content.firstElementChild.cloneNode(true);
  el.dataset.streamId = streamID;
  el.classList.toggle("local", local);
  el.querySelector(".name").textContent = name;
  const video = el.querySelector("video");
  video.muted = local; // no echo of one's own microphone
  $("tiles").append(el);
  return {
    el,
    video,
    state: (text) => (el.querySelector(".state").textContent = text),
    quality: (text) => (el.querySelector(".quality").textContent = text),
    remove() {
      video.srcObject = null;
      el.remove();
    },
  };
}

function setUser(userID, present) {
  const existing = [...$("users").children].find((li) => li.dataset.userId === userID);
  if (present && !existing) {
    const li = document.createElement("li");
    li.dataset.userId = userID;
    li.textContent = userID;
    $("users").append(li);
  } else if (!present && existing) {
    existing.remove();
  }
}

function addMessage(from, text) {
  const li = document.createElement("li");
  li.textContent = `${from}: ${text}`;
  $("messages").append(li);
  $("messages").scrollTop = $("messages").scrollHeight;
}

/** Enables what makes sense in a call or out of one. */
function inCall(yes) {
  $("join").disabled = yes;
  $("roomID").disabled = yes;
  $("userID").disabled = yes;
  for (const id of ["muteMic", "muteCamera", "hangUp", "send"]) $(id).disabled = !yes;
  $("muteMic").textContent = "Mute mic";
  $("muteCamera").textContent = "Mute camera";
}

const quality = (video, audio) => `${Math.round(video.videoFPS)} fps · ${Math.round(video.videoBitrate + audio.audioBitrate)} kbit/s`;

// ---- the engine's events -------------------------------------------------------------

function listen() {
  zg.on("roomStateUpdate", (roomID, state, errorCode, extendedData) => {
    $("roomState").textContent = state;
    log(`roomStateUpdate ${roomID} ${state}${errorCode ? ` error ${errorCode} ${extendedData || ""}` : ""}`, errorCode !== 0);
    // Out of the room for good (kicked out, the token expired, reconnecting failed): end the call.
    // (A failed login is told by join.)
    if (state === "DISCONNECTED" && errorCode !== 0 && call && call.loggedIn && call.roomID === roomID) {
      showError(`out of room ${roomID}: error ${errorCode} ${extendedData || ""}`);
      hangUp();
    }
  });
  zg.on("roomUserUpdate", (roomID, updateType, userList) => {
    for (const u of userList) setUser(u.userID, updateType === "ADD");
    log(`roomUserUpdate ${updateType} ${userList.map((u) => u.userID).join(", ")}`);
  });
  zg.on("roomStreamUpdate", (roomID, updateType, streamList) => {
    for (const s of streamList) {
      log(`roomStreamUpdate ${updateType} ${s.streamID} (${s.user ? s.user.userID : "?"})`);
      if (updateType === "ADD") play(s.streamID, s.user ? s.user.userID : s.streamID);
      else stopPlaying(s.streamID);
    }
  });
  zg.on("publisherStateUpdate", ({ streamID, state, errorCode, extendedData }) => {
    if (!call || streamID !== call.streamID) return;
    $("publishState").textContent = state;
    if (localTile) localTile.state(state);
    log(`publisherStateUpdate ${streamID} ${state}${errorCode ? ` error ${errorCode} ${extendedData || ""}` : ""}`, errorCode !== 0);
  });
  zg.on("playerStateUpdate", ({ streamID, state, errorCode, extendedData }) => {
    const tile = remotes.get(streamID);
    if (tile) tile.state(state);
    log(`playerStateUpdate ${streamID} ${state}${errorCode ? ` error ${errorCode} ${extendedData || ""}` : ""}`, errorCode !== 0);
  });
  zg.on("publishQualityUpdate", (streamID, stats) => {
    if (localTile && call && streamID === call.streamID) localTile.quality(quality(stats.video, stats.audio));
  });
  zg.on("playQualityUpdate", (streamID, stats) => {
    const tile = remotes.get(streamID);
    if (tile) tile.quality(quality(stats.video, stats.audio));
  });
  zg.on("IMRecvBroadcastMessage", (roomID, messageList) => {
    for (const m of messageList) addMessage(m.fromUser.userID, m.message);
  });
}

// ---- the call ------------------------------------------------------------------------

async function getToken(userID, roomID) {
  const url = new URL(tokenURL);
  url.searchParams.set("userID", userID);
  url.searchParams.set("roomID", roomID);
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`the token server ${url.origin} is unreachable: ${e.message}`);
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.token) throw new Error(`the token server answered ${res.status}: ${body.error || JSON.stringify(body)}`);
  return body.token;
}

async function join(event) {
  event.preventDefault();
  const roomID = $("roomID").value.trim();
  const userID = $("userID").value.trim();
  // Stream IDs take 0-9, A-Z, a-z, _ and -; the mini-program pages play every stream of the room.
  const streamID = query.get("streamID") || `${userID.replace(/[^0-9A-Za-z_-]/g, "_")}-web`;
  const me = { roomID, userID, streamID, loggedIn: false, localStream: null, muted: { audio: false, video: false } };
  call = me;
  $("error").hidden = true;
  inCall(true);
  try {
    const token = await getToken(userID, roomID);
    await zg.loginRoom(roomID, token, { userID, userName: userID }, { userUpdate: true });
    if (call !== me) return zg.logoutRoom(roomID); // hung up meanwhile
    me.loggedIn = true;
    const localStream = await zg.createStream({ camera: { video: true, audio: true } });
    if (call !== me) return zg.destroyStream(localStream); // hung up meanwhile
    me.localStream = localStream;
    localTile = addTile(streamID, `${userID} (me)`, true);
    localTile.video.srcObject = localStream;
    $("streamID").textContent = streamID;
    if (!zg.startPublishingStream(streamID, localStream)) throw new Error(`startPublishingStream(${streamID}) refused: see the browser console`);
  } catch (err) {
    if (call !== me) return;
    showError(`joining ${roomID} failed: ${describe(err)}`);
    hangUp();
  }
}

async function play(streamID, userID) {
  if (remotes.has(streamID)) return;
  const tile = addTile(streamID, userID, false);
  remotes.set(streamID, tile);
  try {
    const media = await zg.startPlayingStream(streamID);
    if (remotes.get(streamID) === tile) tile.video.srcObject = media;
  } catch (err) {
    if (remotes.get(streamID) !== tile) return;
    tile.state(`error ${describe(err)}`);
    log(`startPlayingStream ${streamID} failed: ${describe(err)}`, true);
  }
}

function stopPlaying(streamID) {
  const tile = remotes.get(streamID);
  zg.stopPlayingStream(streamID);
  if (!tile) return;
  remotes.delete(streamID);
  tile.remove();
}

/** Stops publishing, releases the camera and microphone, stops every player, leaves the room. */
function hangUp() {
  if (!call) return;
  const { roomID, streamID, localStream } = call;
  call = null;
  zg.stopPublishingStream(streamID);
  if (localStream) zg.destroyStream(localStream);
  if (localTile) localTile.remove();
  localTile = null;
  for (const id of [...remotes.keys()]) stopPlaying(id);
  zg.logoutRoom(roomID);
  $("users").replaceChildren();
  $("streamID").textContent = "nothing";
  $("publishState").textContent = "NO_PUBLISH";
  inCall(false);
}

function toggleMute(kind, button, label) {
  if (!call || !call.localStream) return;
  const mute = !call.muted[kind];
  const done = kind === "audio" ? zg.mutePublishStreamAudio(call.localStream, mute) : zg.mutePublishStreamVideo(call.localStream, mute);
  if (!done) return log(`no ${kind} track to mute`, true);
  call.muted[kind] = mute;
  button.textContent = `${mute ? "Unmute" : "Mute"} ${label}`;
}

async function send(event) {
  event.preventDefault();
  const text = $("message").value.trim();
  if (!text || !call) return;
  const { errorCode, extendedData } = await zg.sendBroadcastMessage(call.roomID, text);
  if (errorCode) return showError(`message not sent: ${errorCode} ${extendedData || ""}`);
  $("message").value = "";
  addMessage("me", text);
}

// ---- start ---------------------------------------------------------------------------

$("roomID").value = setting("roomID");
$("userID").value = query.get("userID") || `user-${Math.random().toString(36).slice(2, 8)}`;
$("joinForm").addEventListener("submit", join);
$("messageForm").addEventListener("submit", send);
$("hangUp").addEventListener("click", hangUp);
$("muteMic").addEventListener("click", (e) => toggleMute("audio", e.target, "mic"));
$("muteCamera").addEventListener("click", (e) => toggleMute("video", e.target, "camera"));
addEventListener("pagehide", hangUp);

if (!appID) {
  showError("No AppID: set appID in config.js or open the page with ?appID=N (the dev server prints that link).");
} else {
  try {
    const { ZegoExpressEngine } = await import(sdkURL);
    zg = new ZegoExpressEngine(appID, server);
    listen();
    $("join").disabled = false;
    log(`SDK ${zg.getVersion()} from ${sdkURL}; AppID ${appID}, server ${server}`);
  } catch (e) {
    showError(`The SDK did not load from ${sdkURL} (is duet serve running there?): ${describe(e)}`);
  }
}
