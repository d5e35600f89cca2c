// The console: log in, see and create apps, reveal secrets, mint tokens, watch rooms live,
// set webhooks. Talks JSON to /console/api/ (the session is an HttpOnly cookie).
import { initQuality, qualityApps } from "./quality.js";

const $ = (id) => document.getElementById(id);
let overview = null;
let liveTimer = null;

async function api(method, path, body) {
  const res = await fetch(`/console/api/${path}`, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.message || `HTTP ${res.status}`);
  return data;
}

function option(app) {
  const o = document.createElement("option");
  o.value = app.appID;
  o.textContent = `${app.name} (${app.appID})`;
  return o;
}

/** The cluster's nodes with their load (one row without a cluster). */
function showNodes() {
  $("clusterState").textContent =
    overview.cluster === "none" ? "(one node, no cluster)" : overview.cluster === "healthy" ? "(cluster on Redis)" : "(cluster degraded: Redis cannot be reached)";
  $("nodes").replaceChildren(
    ...overview.nodes.map((n) => {
      const tr = document.createElement("tr");
      const l = n.load;
      const name = n.draining ? `${n.name} (draining)` : n.name;
      for (const text of [name, n.addresses.ws, l.sessions, l.rooms, l.streams, l.players, l.cpu.toFixed(2)]) {
        const td = document.createElement("td");
        td.textContent = String(text);
        tr.append(td);
      }
      return tr;
    }),
  );
}

async function load() {
  overview = await api("GET", "overview");
  $("loginView").classList.add("hidden");
  $("consoleView").classList.remove("hidden");
  $("logout").classList.remove("hidden");
  const a = overview.addresses;
  $("addrServer").textContent = a.server;
  $("addrSocket").textContent = a.socketDomain;
  $("addrRequest").textContent = a.requestDomain;
  $("addrLog").textContent = a.logURL;
  $("addrRtmp").textContent = a.rtmp;
  showNodes();
  const body = $("apps");
  body.replaceChildren();
  for (const app of overview.apps) {
    const tr = document.createElement("tr");
    tr.dataset.app = app.appID;
    tr.innerHTML = "<td class='mono'></td><td></td><td><button class='secondary'>Reveal</button></td>";
    tr.children[0].textContent = app.appID;
    tr.children[1].textContent = app.name;
    tr.querySelector("button").onclick = async (ev) => {
      const r = await api("GET", `apps/${app.appID}/secret`);
      const code = document.createElement("code");
      code.textContent = r.serverSecret;
      ev.target.replaceWith(code);
    };
    body.append(tr);
  }
  for (const id of ["tokenApp", "liveApp", "hookApp", "latencyApp", "recordApp", "webApp"]) {
    const sel = $(id);
    const keep = sel.value;
    sel.replaceChildren(...overview.apps.map(option));
    if (keep && overview.apps.some((x) => String(x.appID) === keep)) sel.value = keep;
  }
  showHook();
  showLatency();
  showRecord();
  showWeb();
  refreshLive();
  qualityApps(overview.apps, option).catch(() => {});
  clearInterval(liveTimer);
  liveTimer = setInterval(refreshLive, 2000);
}

function showHook() {
  const app = overview.apps.find((x) => String(x.appID) === $("hookApp").value);
  $("hookURL").value = (app && app.webhookURL) || "";
}

function showLatency() {
  const app = overview.apps.find((x) => String(x.appID) === $("latencyApp").value);
  $("latencyValue").value = (app && app.latency) || "";
}

function showRecord() {
  const app = overview.apps.find((x) => String(x.appID) === $("recordApp").value);
  $("recordPolicy").value = app && app.recordAll ? "all" : "none";
}

function showWeb() {
  const app = overview.apps.find((x) => String(x.appID) === $("webApp").value);
  $("webOrigins").value = (app && app.allowedOrigins) || "";
  $("webPeers").value = app && app.webrtcMaxPeers != null ? String(app.webrtcMaxPeers) : "";
}

async function refreshLive() {
  const appID = $("liveApp").value;
  if (!appID) return;
  let data;
  try {
    data = await api("GET", `apps/${appID}/live`);
  } catch {
    return;
  }
  const box = $("live");
  box.replaceChildren();
  if (data.unreachable?.length) {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = `Nodes that did not answer (their rooms are missing): ${data.unreachable.join(", ")}`;
    box.append(p);
  }
  if (data.rooms.length === 0) {
    box.append("No open rooms.");
    return;
  }
  for (const room of data.rooms) {
    const div = document.createElement("div");
    div.className = "room";
    div.dataset.room = room.roomID;
    const h = document.createElement("h3");
    h.textContent = `${room.roomID} · ${room.onlineCount} online` + (room.node ? ` · on ${room.node}` : "");
    const users = document.createElement("p");
    users.textContent = "Users: " + room.users.map((u) => u.userID).join(", ");
    const streams = document.createElement("p");
    streams.textContent = "Streams: " + (room.streams.map((s) => `${s.streamID} (${s.user.userID})`).join(", ") || "none");
    div.append(h, users, streams);
    // Streams browsers cannot play over WebRTC as published (B-frames, HEVC, ...).
    for (const s of room.streams.filter((s) => s.webrtcProblem)) {
      const warn = document.createElement("p");
      warn.className = "error";
      warn.dataset.stream = s.streamID;
      warn.textContent = `⚠ ${s.streamID}: not playable over WebRTC (${s.webrtcProblem.code}): ${s.webrtcProblem.reason}`;
      div.append(warn);
    }
    box.append(div);
  }
}

$("login").onclick = async () => {
  $("loginError").textContent = "";
  try {
    await api("POST", "login", { username: $("username").value, password: $("password").value });
    await load();
  } catch (e) {
    $("loginError").textContent = e.message;
  }
};
$("password").addEventListener("keydown", (e) => e.key === "Enter" && $("login").click());
$("logout").onclick = async () => {
  await api("POST", "logout");
  location.reload();
};
$("createApp").onclick = async () => {
  try {
    const app = await api("POST", "apps", { name: $("newName").value || "app" });
    $("appsMsg").textContent = `Created ${app.name}: AppID ${app.appID}, ServerSecret ${app.serverSecret}`;
    await load();
    $("tokenApp").value = app.appID;
    $("liveApp").value = app.appID;
  } catch (e) {
    $("appsMsg").textContent = e.message;
  }
};
$("importApp").onclick = async () => {
  try {
    const app = await api("POST", "apps/import", {
      appID: Number($("importID").value),
      serverSecret: $("importSecret").value.trim(),
      name: $("importName").value || "imported",
    });
    $("appsMsg").textContent = `Imported ${app.appID}`;
    await load();
  } catch (e) {
    $("appsMsg").textContent = e.message;
  }
};
$("mintToken").onclick = async () => {
  const appID = $("tokenApp").value;
  try {
    const r = await api("POST", `apps/${appID}/token`, {
      userID: $("tokenUser").value.trim(),
      roomID: $("tokenRoom").value.trim(),
      ttl: Number($("tokenTTL").value) || 3600,
      login: $("tokenLogin").checked,
      publish: $("tokenPublish").checked,
    });
    $("tokenOut").value = r.token;
    const q = new URLSearchParams({ appID, userID: r.userID, token: r.token });
    if ($("tokenRoom").value.trim()) q.set("roomID", $("tokenRoom").value.trim());
    $("debugLink").href = `/debug?${q}`;
    $("debugLink").classList.remove("hidden");
  } catch (e) {
    $("tokenOut").value = e.message;
  }
};
$("liveApp").onchange = refreshLive;
$("hookApp").onchange = showHook;
$("setHook").onclick = async () => {
  try {
    const r = await api("POST", `apps/${$("hookApp").value}/webhook`, { url: $("hookURL").value.trim() });
    $("hookMsg").textContent = r.url ? `Saved. Signing secret: ${r.secret}` : "Removed.";
    await load();
  } catch (e) {
    $("hookMsg").textContent = e.message;
  }
};

$("latencyApp").onchange = showLatency;
$("setLatency").onclick = async () => {
  try {
    const r = await api("POST", `apps/${$("latencyApp").value}/latency`, { latency: $("latencyValue").value.trim() });
    $("latencyMsg").textContent = `Saved: ${r.latency} for streams published from now on.`;
    await load();
  } catch (e) {
    $("latencyMsg").textContent = e.message;
  }
};

$("recordApp").onchange = showRecord;
$("setRecord").onclick = async () => {
  try {
    const r = await api("POST", `apps/${$("recordApp").value}/record`, { policy: $("recordPolicy").value });
    $("recordMsg").textContent = `Saved: ${r.policy} (streams published from now on).`;
    await load();
  } catch (e) {
    $("recordMsg").textContent = e.message;
  }
};

$("webApp").onchange = showWeb;
$("setOrigins").onclick = async () => {
  try {
    const r = await api("POST", `apps/${$("webApp").value}/origins`, { origins: $("webOrigins").value.trim() });
    $("webMsg").textContent = `Saved: pages on ${r.origins} may call this app.`;
    await load();
  } catch (e) {
    $("webMsg").textContent = e.message;
  }
};
$("setPeers").onclick = async () => {
  const text = $("webPeers").value.trim();
  const maxPeers = text === "" || text === "none" ? null : Number(text);
  if (maxPeers !== null && !Number.isInteger(maxPeers)) {
    $("webMsg").textContent = "give a whole number of peers, or leave it empty";
    return;
  }
  try {
    const r = await api("POST", `apps/${$("webApp").value}/webrtc-peers`, { maxPeers });
    $("webMsg").textContent = r.maxPeers == null ? "Saved: no peer cap of its own." : `Saved: at most ${r.maxPeers} WebRTC peers.`;
    await load();
  } catch (e) {
    $("webMsg").textContent = e.message;
  }
};

initQuality({ $, api });
load().catch(() => {});
