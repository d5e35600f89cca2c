// The debug page: a browser in a room through the Web SDK that `duet serve` hosts at
// /sdk/duet-web.js (the hosted cloud's Web API). It shows the room's users, streams, messages
// and commands, plays any stream of the room over WebRTC (WHEP), publishes the camera and
// microphone (WHIP), and logs what the SDK reports: room, publisher and player states with
// their error codes, and each stream's latest quality.
import { ZegoExpressEngine } from "/sdk/duet-web.js";

const $ = (id) => document.getElementById(id);
/** Lines the events log keeps (newest first). */
const LOG_LINES = 500;

/** The engine, made for the AppID of the first Join (again when the AppID changes). */
let zg = null;
/** The room the page is in (null when it is in none), and as whom. */
let room = null;
let me = null;
const users = new Map();
const streams = new Map();
/** The stream shown in #video. */
let playing = null;
/** What the page publishes: {streamID, stream, muted: {audio, video}}. */
let local = null;
/** Each stream's quality line in the log ("publish:id", "play:id"), replaced by the next report. */
const qualityLines = new Map();

function log(text, cls) {
  const line = document.createElement("div");
  line.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  if (cls) line.className = cls;
  $("log").prepend(line);
  while ($("log").childElementCount > LOG_LINES) $("log").lastElementChild.remove();
  return line;
}

/** Logs `text` as the newest line of `key`, in place of its previous one. */
function logLatest(key, text) {
  const previous = qualityLines.get(key);
  if (previous) previous.remove();
  qualityLines.set(key, log(text));
}

const codeOf = (errorCode, extendedData) => (errorCode ? ` (code ${errorCode}${extendedData ? `: ${extendedData}` : ""})` : "");
/** How a state line looks: red with an error code, green when media flows. */
const classOf = (errorCode, flowing) => (errorCode ? "error" : flowing ? "ok" : undefined);

function setState(text, cls) {
  $("state").textContent = text;
  $("state").className = cls || "muted";
}

function setPublishState(text, cls) {
  $("publishState").textContent = text;
  $("publishState").className = cls || "muted";
}

function renderUsers() {
  const body = $("users");
  body.replaceChildren();
  for (const u of users.values()) {
    const tr = document.createElement("tr");
    tr.innerHTML = "<td></td><td class='muted'></td>";
    tr.children[0].textContent = u.userID;
    tr.children[1].textContent = u.userName || "";
    body.append(tr);
  }
  $("userCount").textContent = `(${users.size})`;
}

function renderStreams() {
  const body = $("streams");
  body.replaceChildren();
  const rows = [...streams.values()];
  // The stream being played stays listed (with its Stop) while it is not live: the SDK
  // plays it again when it comes back.
  if (playing && !streams.has(playing)) rows.push({ streamID: playing, gone: true });
  if (rows.length === 0) {
    body.innerHTML = "<tr><td class='muted'>No live streams.</td></tr>";
    return;
  }
  for (const s of rows) {
    const tr = document.createElement("tr");
    tr.dataset.stream = s.streamID;
    tr.innerHTML = "<td><b></b><div class='muted'></div></td><td><button></button></td>";
    tr.querySelector("b").textContent = s.streamID;
    tr.querySelector("div").textContent = s.gone ? "no longer live" : `from ${s.user.userID}${s.extraInfo ? " · " + s.extraInfo : ""}`;
    const button = tr.querySelector("button");
    button.textContent = playing === s.streamID ? "Stop" : "Play";
    button.onclick = () => (playing === s.streamID ? stopPlaying() : play(s.streamID));
    body.append(tr);
  }
}

/** bitrate, frame rate and size of video, bitrate of audio: one report of the SDK, in a line. */
function qualitySummary(stats) {
  const v = stats.video;
  const a = stats.audio;
  const muted = [v.muteState === "1" ? "video muted" : "", a.muteState === "1" ? "audio muted" : ""].filter(Boolean);
  const video = `video ${Math.round(v.videoBitrate)} kbit/s ${Math.round(v.videoFPS)} fps ${v.frameWidth}×${v.frameHeight}`;
  return `${video}, audio ${Math.round(a.audioBitrate)} kbit/s${muted.length ? ` (${muted.join(", ")})` : ""}`;
}

/** The engine for `appID`, listening to every event the page shows. */
function engineFor(appID) {
  if (zg && zg.appID === appID) return zg;
  const engine = new ZegoExpressEngine(appID, `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  if (zg) zg.destroyEngine();
  zg = engine;
  zg.on("roomStateChanged", (roomID, reason, errorCode, extendedData) => {
    log(`room ${roomID}: ${reason}${codeOf(errorCode, extendedData)}`, classOf(errorCode, false));
  });
  zg.on("roomStateUpdate", (roomID, state, errorCode) => {
    if (roomID !== room) return; // a login in progress, or a room the page left
    if (state === "CONNECTING") setState(`Reconnecting to room ${roomID}…`, "error");
    else if (state === "CONNECTED") setState(`In room ${roomID} as ${me}.`, "ok");
    else leftRoom(`Disconnected from room ${roomID}${codeOf(errorCode)}.`, "error");
  });
  zg.on("roomUserUpdate", (roomID, updateType, userList) => {
    for (const u of userList) updateType === "ADD" ? users.set(u.userID, u) : users.delete(u.userID);
    renderUsers();
    log(`user ${updateType} ${userList.map((u) => u.userID).join(", ")}`);
  });
  zg.on("roomStreamUpdate", (roomID, updateType, streamList) => {
    for (const s of streamList) updateType === "ADD" ? streams.set(s.streamID, s) : streams.delete(s.streamID);
    renderStreams();
    log(`stream ${updateType} ${streamList.map((s) => s.streamID).join(", ")}`);
  });
  zg.on("roomExtraInfoUpdate", (roomID, list) => list.forEach((e) => log(`extra info ${e.key} = ${e.value}`)));
  zg.on("IMRecvBroadcastMessage", (roomID, list) => list.forEach((m) => log(`${m.fromUser.userID}: ${m.message}`, "ok")));
  zg.on("IMRecvBarrageMessage", (roomID, list) => list.forEach((m) => log(`(barrage) ${m.fromUser.userID}: ${m.message}`)));
  zg.on("IMRecvCustomCommand", (roomID, fromUser, command) => log(`command from ${fromUser.userID}: ${command}`, "ok"));
  zg.on("tokenWillExpire", (roomID) => log(`the token for room ${roomID} expires soon`, "error"));
  zg.on("publisherStateUpdate", ({ streamID, state, errorCode, extendedData }) => {
    const text = `publish ${streamID}: ${state}${codeOf(errorCode, extendedData)}`;
    log(text, classOf(errorCode, state === "PUBLISHING"));
    if (!local || local.streamID !== streamID) return;
    setPublishState(text, classOf(errorCode, state === "PUBLISHING"));
    if (state === "NO_PUBLISH") endLocal();
  });
  zg.on("playerStateUpdate", ({ streamID, state, errorCode, extendedData }) => {
    log(`play ${streamID}: ${state}${codeOf(errorCode, extendedData)}`, classOf(errorCode, state === "PLAYING"));
    if (state === "NO_PLAY") {
      qualityLines.delete(`play:${streamID}`);
      if (playing === streamID) showNothing();
    }
  });
  zg.on("publishQualityUpdate", (streamID, stats) => logLatest(`publish:${streamID}`, `quality publish ${streamID}: ${qualitySummary(stats)}`));
  zg.on("playQualityUpdate", (streamID, stats) => logLatest(`play:${streamID}`, `quality play ${streamID}: ${qualitySummary(stats)}`));
  return zg;
}

async function join() {
  const appID = Number($("appID").value);
  const roomID = $("roomID").value.trim();
  const userID = $("userID").value.trim();
  const userName = $("userName").value.trim() || userID;
  const token = $("token").value.trim();
  if (!appID || !roomID || !userID || !token) return setState("AppID, RoomID, UserID and Token are needed.", "error");
  $("join").disabled = true;
  setState("Connecting…");
  users.clear();
  streams.clear();
  try {
    await engineFor(appID).loginRoom(roomID, token, { userID, userName }, { userUpdate: true });
  } catch (e) {
    setState(`Login failed: ${e.msg || e.message}${codeOf(e.code)}`, "error");
    $("join").disabled = false;
    return;
  }
  room = roomID;
  me = userID;
  // The page's own user first, then who the login found.
  const others = [...users.values()];
  users.clear();
  users.set(userID, { userID, userName });
  for (const u of others) users.set(u.userID, u);
  renderUsers();
  renderStreams();
  setState(`In room ${roomID} as ${userID}.`, "ok");
  for (const id of ["leave", "sendMessage", "sendCommand", "publish"]) $(id).disabled = false;
}

/** The page is in no room any more: forget the room and what it published and played there. */
function leftRoom(text, cls) {
  room = null;
  endLocal();
  showNothing();
  users.clear();
  streams.clear();
  renderUsers();
  renderStreams();
  setState(text, cls);
  $("join").disabled = false;
  for (const id of ["leave", "sendMessage", "sendCommand", "publish"]) $(id).disabled = true;
}

function leave() {
  if (!room) return;
  const roomID = room;
  if (local) stopPublishing();
  if (playing) stopPlaying();
  leftRoom("Left the room.");
  zg.logoutRoom(roomID);
}

// ---- playing ---------------------------------------------------------------------------

async function play(streamID) {
  if (playing) stopPlaying();
  playing = streamID;
  renderStreams();
  $("stats").textContent = `${streamID}: connecting…`;
  let stream;
  try {
    stream = await zg.startPlayingStream(streamID);
  } catch (e) {
    log(`play ${streamID} refused: ${e.msg}${codeOf(e.code)}`, "error");
    if (playing === streamID) showNothing();
    return;
  }
  if (playing !== streamID) return; // stopped, or another stream chosen, meanwhile
  const video = $("video");
  video.srcObject = stream;
  video.play().catch((e) => log(`the browser did not start the video (${e.name}): press its play button`, "error"));
}

function stopPlaying() {
  const streamID = playing;
  showNothing();
  zg.stopPlayingStream(streamID);
}

/** Empties the player. */
function showNothing() {
  playing = null;
  $("video").srcObject = null;
  $("stats").textContent = "No stream playing.";
  renderStreams();
}

setInterval(() => {
  const video = $("video");
  if (!playing || !video.srcObject) return;
  const frames = video.getVideoPlaybackQuality().totalVideoFrames;
  const size = `${video.videoWidth}×${video.videoHeight}`;
  $("stats").textContent = `${playing}: ${frames} frames decoded, ${size}, ${video.currentTime.toFixed(1)} s`;
}, 500);

// ---- publishing ------------------------------------------------------------------------

async function publish() {
  const streamID = $("streamID").value.trim();
  if (!streamID) return setPublishState("A StreamID is needed.", "error");
  $("publish").disabled = true;
  setPublishState("Opening the camera and microphone…");
  let stream;
  try {
    stream = await zg.createStream({ camera: { video: true, audio: true } });
  } catch (e) {
    setPublishState(`The camera and microphone could not be opened: ${e.msg}${codeOf(e.code)}`, "error");
    $("publish").disabled = !room;
    return;
  }
  if (!room) return zg.destroyStream(stream); // left the room meanwhile
  local = { streamID, stream, muted: { audio: false, video: false } };
  $("preview").srcObject = stream;
  for (const id of ["stopPublish", "muteMic", "muteCamera"]) $(id).disabled = false;
  if (!zg.startPublishingStream(streamID, stream)) {
    endLocal();
    setPublishState(`startPublishingStream(${streamID}) was refused: the browser console says why.`, "error");
  }
}

function stopPublishing() {
  zg.stopPublishingStream(local.streamID);
  endLocal();
}

/** Releases the camera and microphone (once the SDK stopped publishing them). */
function endLocal() {
  if (!local) return;
  qualityLines.delete(`publish:${local.streamID}`);
  zg.destroyStream(local.stream);
  local = null;
  $("preview").srcObject = null;
  $("publish").disabled = !room;
  for (const id of ["stopPublish", "muteMic", "muteCamera"]) $(id).disabled = true;
  $("muteMic").textContent = "Mute mic";
  $("muteCamera").textContent = "Mute camera";
}

/** Mutes or unmutes what the page publishes of `kind` ("audio": the mic, "video": the camera). */
function toggleMute(kind) {
  const mute = !local.muted[kind];
  const done = kind === "audio" ? zg.mutePublishStreamAudio(local.stream, mute) : zg.mutePublishStreamVideo(local.stream, mute);
  const name = kind === "audio" ? "mic" : "camera";
  if (!done) return log(`the stream has no ${name} to mute`, "error");
  local.muted[kind] = mute;
  $(kind === "audio" ? "muteMic" : "muteCamera").textContent = `${mute ? "Unmute" : "Mute"} ${name}`;
  log(`${name} ${mute ? "muted" : "unmuted"}`);
}

// ---- messages --------------------------------------------------------------------------

async function sendMessage() {
  const text = $("message").value;
  if (!text) return;
  const r = await zg.sendBroadcastMessage(room, text);
  if (r.errorCode !== 0) return log(`message refused${codeOf(r.errorCode, r.extendedData)}`, "error");
  log(`me: ${text}`, "ok");
  $("message").value = "";
}

async function sendCommand() {
  const command = $("command").value;
  const to = $("commandTo").value.split(",").map((s) => s.trim()).filter(Boolean);
  const r = await zg.sendCustomCommand(room, command, to);
  if (r.errorCode !== 0) return log(`command refused${codeOf(r.errorCode, r.extendedData)}`, "error");
  log(`command sent to ${to.length ? to.join(", ") : "everyone"}`, "ok");
}

// ---- the page --------------------------------------------------------------------------

const q = new URLSearchParams(location.search);
for (const k of ["appID", "roomID", "userID", "token"]) if (q.get(k)) $(k).value = q.get(k);
if (!$("userID").value) $("userID").value = `web-${Math.random().toString(36).slice(2, 7)}`;
// The StreamID follows the UserID (`<userID>-cam`) until it is edited.
const defaultStreamID = () => {
  if (!$("streamID").dataset.edited) $("streamID").value = `${$("userID").value.trim()}-cam`;
};
defaultStreamID();
$("userID").oninput = defaultStreamID;
$("streamID").oninput = () => ($("streamID").dataset.edited = "1");
$("join").onclick = join;
$("leave").onclick = leave;
$("publish").onclick = publish;
$("stopPublish").onclick = stopPublishing;
$("muteMic").onclick = () => toggleMute("audio");
$("muteCamera").onclick = () => toggleMute("video");
$("sendMessage").onclick = sendMessage;
$("sendCommand").onclick = sendCommand;
// Leaving the page ends its WHIP/WHEP sessions at once (the server would notice in 15 s).
window.addEventListener("pagehide", () => zg && zg.destroyEngine());
