// The debug page: joins a room over signaling like a mini-program does, shows its users,
// streams and messages, and plays a stream through Media Source Extensions from the server's
// fragmented-MP4 endpoint (no third-party player).
import { Signaling } from "/assets/signaling.js";

const $ = (id) => document.getElementById(id);
let sig = null;
let room = null;
const users = new Map();
const streams = new Map();
let player = null;

function log(text, cls) {
  const line = document.createElement("div");
  line.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  if (cls) line.className = cls;
  $("log").prepend(line);
}

function setState(text, cls) {
  $("state").textContent = text;
  $("state").className = cls || "muted";
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
  if (streams.size === 0) {
    body.innerHTML = "<tr><td class='muted'>No live streams.</td></tr>";
    return;
  }
  for (const s of streams.values()) {
    const tr = document.createElement("tr");
    tr.dataset.stream = s.streamID;
    tr.innerHTML = "<td><b></b><div class='muted'></div></td><td><button>Play</button></td>";
    tr.querySelector("b").textContent = s.streamID;
    tr.querySelector("div").textContent = `from ${s.user.userID}${s.extraInfo ? " · " + s.extraInfo : ""}`;
    tr.querySelector("button").onclick = () => play(s);
    body.append(tr);
  }
}

function applyStreams(type, list) {
  for (const s of list) {
    if (type === "ADD") streams.set(s.streamID, s);
    else streams.delete(s.streamID);
  }
  renderStreams();
}

async function join() {
  const appID = Number($("appID").value);
  const roomID = $("roomID").value.trim();
  const userID = $("userID").value.trim();
  const token = $("token").value.trim();
  if (!appID || !roomID || !userID || !token) return setState("AppID, RoomID, UserID and Token are needed.", "error");
  $("join").disabled = true;
  setState("Connecting…");
  sig = new Signaling(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  sig.on("roomUserUpdate", (d) => {
    for (const u of d.userList) d.updateType === "ADD" ? users.set(u.userID, u) : users.delete(u.userID);
    renderUsers();
    log(`user ${d.updateType} ${d.userList.map((u) => u.userID).join(", ")}`);
  });
  sig.on("roomStreamUpdate", (d) => {
    applyStreams(d.updateType, d.streamList);
    log(`stream ${d.updateType} ${d.streamList.map((s) => s.streamID).join(", ")}`);
  });
  sig.on("IMRecvBroadcastMessage", (d) => d.messageList.forEach((m) => log(`${m.fromUser.userID}: ${m.message}`, "ok")));
  sig.on("IMRecvBarrageMessage", (d) => d.messageList.forEach((m) => log(`(barrage) ${m.fromUser.userID}: ${m.message}`)));
  sig.on("IMRecvCustomCommand", (d) => log(`command from ${d.fromUser.userID}: ${d.command}`, "ok"));
  sig.on("roomExtraInfoUpdate", (d) => d.roomExtraInfoList.forEach((e) => log(`extra info ${e.key} = ${e.value}`)));
  sig.on("tokenWillExpire", () => log("the token expires in 30 s", "error"));
  sig.on("kickout", (d) => log(`kicked out: ${d.reason} (${d.code})`, "error"));
  sig.on("$closed", (d) => {
    setState(`Disconnected (${d.reason || d.code}).`, "error");
    leaveUI();
  });
  try {
    await sig.connect();
    const snap = await sig.request("login", {
      protocol: 1, appID, roomID, token, user: { userID, userName: $("userName").value || userID }, userUpdate: true,
    });
    room = roomID;
    users.clear();
    users.set(userID, { userID, userName: $("userName").value || userID });
    for (const u of snap.users) users.set(u.userID, u);
    streams.clear();
    applyStreams("ADD", snap.streams);
    renderUsers();
    setState(`In room ${roomID} as ${userID} (${snap.onlineCount} online).`, "ok");
    log(`logged into ${roomID}`);
    $("leave").disabled = false;
    $("sendMessage").disabled = false;
    $("sendCommand").disabled = false;
  } catch (e) {
    setState(`Login failed: ${e.msg} (${e.code})`, "error");
    sig.close();
    $("join").disabled = false;
  }
}

function leaveUI() {
  $("join").disabled = false;
  $("leave").disabled = true;
  $("sendMessage").disabled = true;
  $("sendCommand").disabled = true;
  room = null;
}

async function leave() {
  if (sig && room) await sig.request("logout", {}).catch(() => {});
  if (sig) sig.close();
  stopPlayer();
  users.clear();
  streams.clear();
  renderUsers();
  renderStreams();
  setState("Left the room.");
  leaveUI();
}

function stopPlayer() {
  if (!player) return;
  player.stopped = true;
  player.abort.abort();
  $("video").removeAttribute("src");
  $("video").load();
  player = null;
}

/** Plays a stream: fetch its fMP4 (same origin), append to a SourceBuffer, keep latency low. */
async function play(s) {
  stopPlayer();
  const flv = (s.urlsHttpsFLV && s.urlsHttpsFLV[0]) || (s.urlsFLV && s.urlsFLV[0]);
  if (!flv) return log(`no HTTP play URL for ${s.streamID}`, "error");
  const u = new URL(flv);
  const path = u.pathname.replace(/\.flv$/, ".mp4") + u.search;
  const video = $("video");
  const ms = new MediaSource();
  const me = { stopped: false, abort: new AbortController(), streamID: s.streamID };
  player = me;
  video.src = URL.createObjectURL(ms);
  video.play().catch(() => {});
  await new Promise((r) => ms.addEventListener("sourceopen", r, { once: true }));
  let res;
  try {
    res = await fetch(path, { signal: me.abort.signal });
  } catch (e) {
    return log(`play ${s.streamID}: ${e.message}`, "error");
  }
  if (!res.ok) return log(`play ${s.streamID}: HTTP ${res.status} ${await res.text()}`, "error");
  const mime = res.headers.get("content-type");
  if (!MediaSource.isTypeSupported(mime)) return log(`this browser cannot play ${mime}`, "error");
  const sb = ms.addSourceBuffer(mime);
  log(`playing ${s.streamID} (${mime})`);
  const reader = res.body.getReader();
  const appendOne = (chunk) =>
    new Promise((resolve, reject) => {
      sb.addEventListener("updateend", resolve, { once: true });
      sb.addEventListener("error", reject, { once: true });
      sb.appendBuffer(chunk);
    });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || me.stopped) break;
      await appendOne(value);
      const b = sb.buffered;
      if (b.length > 0) {
        const start = b.start(0);
        const end = b.end(b.length - 1);
        // Start at the first frame, stay near the live edge, keep at most 30 s buffered.
        if (video.currentTime < start || end - video.currentTime > 1.5) video.currentTime = Math.max(start, end - 0.3);
        if (end - start > 30 && !sb.updating) {
          sb.remove(start, end - 20);
          await new Promise((r) => sb.addEventListener("updateend", r, { once: true }));
        }
      }
      if (video.paused) video.play().catch(() => {});
    }
  } catch (e) {
    if (!me.stopped) log(`playback of ${s.streamID} stopped: ${e.message || e}`, "error");
  }
  if (me.stopped) return;
  log(`stream ${s.streamID} ended`);
  // The server ends the body when the stream's codec configuration changed: start again.
  if (streams.has(s.streamID) && player === me) setTimeout(() => player === me && play(streams.get(s.streamID)), 500);
}

setInterval(() => {
  const video = $("video");
  if (!player) return;
  const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : { totalVideoFrames: 0 };
  const b = video.buffered;
  const behind = b.length ? (b.end(b.length - 1) - video.currentTime).toFixed(2) : "-";
  $("stats").textContent = `${player.streamID}: ${q.totalVideoFrames} frames, time ${video.currentTime.toFixed(2)} s, ${behind} s behind the newest data`;
}, 500);

async function sendMessage() {
  const text = $("message").value;
  if (!text) return;
  try {
    await sig.request("sendBroadcastMessage", { roomID: room, message: text });
    log(`me: ${text}`, "ok");
    $("message").value = "";
  } catch (e) {
    log(`message refused: ${e.msg}`, "error");
  }
}

async function sendCommand() {
  const command = $("command").value;
  const to = $("commandTo").value.split(",").map((s) => s.trim()).filter(Boolean);
  try {
    const r = await sig.request("sendCustomCommand", { roomID: room, command, toUserIDList: to });
    log(`command delivered to ${r.delivered}`, "ok");
  } catch (e) {
    log(`command refused: ${e.msg}`, "error");
  }
}

const q = new URLSearchParams(location.search);
for (const k of ["appID", "roomID", "userID", "token"]) if (q.get(k)) $(k).value = q.get(k);
if (!$("userID").value) $("userID").value = `web-${Math.random().toString(36).slice(2, 7)}`;
$("join").onclick = join;
$("leave").onclick = leave;
$("sendMessage").onclick = sendMessage;
$("sendCommand").onclick = sendCommand;
