// The console's call-quality view: one room's last 30 minutes on this node (the server's
// `server::quality`, from the members' SDK reports and the room's events): a timeline of who
// was in and who published, then, per stream, its video bitrate and frame rate as each member
// reported them (the publisher as sent, every player as received), with stalls and reconnects
// marked. Charts are drawn by uPlot (from npm, embedded by the server's build: /assets/uplot.js);
// without it the figures are shown as a table.

const COLORS = ["#2563eb", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#dc2626"];
const STALL = "#dc2626";
const RECONNECT = "#f59e0b";

let api;
let $;
let charts = [];

const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

/** Sets the view up: `deps.api(method, path)` calls the console API, `deps.$` finds an element. */
export function initQuality(deps) {
  ({ api, $ } = deps);
  $("qualityApp").onchange = () => void listRooms();
  $("qualityRoom").onchange = () => void showRoom();
  $("qualityRefresh").onclick = () => void listRooms();
}

/** The apps changed (or the console loaded): list the chosen app's rooms. */
export async function qualityApps(apps, option) {
  const sel = $("qualityApp");
  const keep = sel.value;
  sel.replaceChildren(...apps.map(option));
  if (keep && apps.some((a) => String(a.appID) === keep)) sel.value = keep;
  await listRooms();
}

async function listRooms() {
  const appID = $("qualityApp").value;
  if (!appID) return;
  const { rooms } = await api("GET", `apps/${appID}/quality`);
  const sel = $("qualityRoom");
  const keep = sel.value;
  sel.replaceChildren(
    ...rooms.map((r) => {
      const o = document.createElement("option");
      o.value = r.roomID;
      o.textContent = `${r.roomID} · ${r.streams} stream${r.streams === 1 ? "" : "s"} · last ${clock(r.lastAt)}`;
      return o;
    }),
  );
  if (keep && rooms.some((r) => r.roomID === keep)) sel.value = keep;
  if (rooms.length === 0) {
    clear();
    $("quality").textContent = "No call in the last 30 minutes on this node.";
    return;
  }
  await showRoom();
}

function clear() {
  for (const c of charts) c.destroy();
  charts = [];
  $("quality").replaceChildren();
}

async function showRoom() {
  const appID = $("qualityApp").value;
  const roomID = $("qualityRoom").value;
  if (!appID || !roomID) return;
  let h;
  try {
    h = await api("GET", `apps/${appID}/quality/${encodeURIComponent(roomID)}`);
  } catch (e) {
    clear();
    $("quality").textContent = e.message;
    return;
  }
  clear();
  // The call's own span within the window: from its first event or sample (a fresh call is not
  // a sliver at the end of 30 minutes).
  const first = [...h.events.map((e) => e.at), ...h.streams.flatMap((s) => s.series.flatMap((x) => x.samples.map((p) => p.at)))];
  if (first.length) h.from = Math.max(h.from, Math.min(...first) - 5000);
  const box = $("quality");
  box.dataset.room = roomID;
  box.append(timeline(h));
  for (const stream of h.streams) box.append(streamView(stream, h));
}

/** Lanes from `from` to `to`: each member's time in the room, each stream's time published. */
function timeline(h) {
  const wrap = document.createElement("div");
  wrap.className = "timeline";
  const head = document.createElement("div");
  head.className = "muted";
  head.textContent = `Timeline ${clock(h.from)} – ${clock(h.to)}`;
  wrap.append(head);
  const span = Math.max(1, h.to - h.from);
  const lane = (label, kind, spans, key) => {
    const row = document.createElement("div");
    row.className = "lane";
    row.dataset[kind] = key;
    const name = document.createElement("span");
    name.className = "lane-name";
    name.textContent = label;
    const bar = document.createElement("span");
    bar.className = "lane-bar";
    for (const [a, b, title] of spans) {
      const seg = document.createElement("span");
      seg.className = `seg ${kind}`;
      seg.style.left = `${(100 * (a - h.from)) / span}%`;
      seg.style.width = `${Math.max(0.5, (100 * (b - a)) / span)}%`;
      seg.title = title;
      bar.append(seg);
    }
    row.append(name, bar);
    return row;
  };
  for (const m of h.members) {
    const a = m.joinedAt ?? h.from;
    const b = m.leftAt ?? h.to;
    wrap.append(lane(m.userID, "member", [[a, b, `${m.userID}: ${clock(a)} – ${m.leftAt ? clock(b) : "now"}`]], m.userID));
  }
  // A stream's published spans, from its created/closed events (or its samples when it was
  // published before the window).
  for (const s of h.streams) {
    const spans = [];
    let open = null;
    for (const e of h.events.filter((e) => e.streamID === s.streamID)) {
      if (e.type === "stream.created") open = e.at;
      if (e.type === "stream.closed") {
        spans.push([open ?? h.from, e.at, `${s.streamID}: until ${clock(e.at)} (${e.reason || "closed"})`]);
        open = null;
      }
    }
    const times = s.series.flatMap((x) => x.samples.map((p) => p.at));
    if (open !== null || (spans.length === 0 && times.length)) {
      const start = open ?? Math.min(...times);
      spans.push([start, h.to, `${s.streamID}: since ${clock(start)}`]);
    }
    wrap.append(lane(`${s.streamID} (${s.userID || "?"})`, "stream", spans, s.streamID));
  }
  return wrap;
}

/** One stream: bitrate and frame rate per reporter, stalls and reconnects marked. */
function streamView(stream, h) {
  const div = document.createElement("div");
  div.className = "quality-stream";
  div.dataset.stream = stream.streamID;
  const title = document.createElement("h3");
  title.textContent = `${stream.streamID}${stream.userID ? ` from ${stream.userID}` : ""}`;
  div.append(title);
  const label = (x) => `${x.userID} (${x.role === "publish" ? "sent" : "received"})`;
  const marks = [];
  for (const x of stream.series) {
    for (const p of x.samples) {
      if (p.stalls) marks.push({ at: p.at, color: STALL, text: `${clock(p.at)} ${label(x)}: ${p.stalls} stall${p.stalls > 1 ? "s" : ""}` });
      if (p.reconnects) marks.push({ at: p.at, color: RECONNECT, text: `${clock(p.at)} ${label(x)}: ${p.reconnects} reconnect${p.reconnects > 1 ? "s" : ""}` });
    }
  }
  const points = stream.series.reduce((n, x) => n + x.samples.length, 0);
  div.dataset.points = String(points);
  div.dataset.marks = String(marks.length);
  if (typeof window.uPlot !== "function") {
    div.append(table(stream, label), note("Charts need the uPlot library in the build: run npm ci in web/ and build Duet again."));
  } else {
    div.append(chart(stream, h, label, "videoKbps", "video kbit/s", marks), chart(stream, h, label, "fps", "frames/s", marks));
  }
  if (marks.length) {
    const list = document.createElement("ul");
    list.className = "marks";
    for (const m of marks) {
      const li = document.createElement("li");
      li.style.color = m.color;
      li.textContent = m.text;
      list.append(li);
    }
    div.append(list);
  }
  return div;
}

function note(text) {
  const p = document.createElement("p");
  p.className = "muted";
  p.textContent = text;
  return p;
}

function table(stream, label) {
  const t = document.createElement("table");
  t.innerHTML = "<tr><th>time</th><th>who</th><th>video kbit/s</th><th>fps</th><th>size</th></tr>";
  for (const x of stream.series) {
    for (const p of x.samples) {
      const tr = document.createElement("tr");
      for (const v of [clock(p.at), label(x), Math.round(p.videoKbps), p.fps, `${p.width}×${p.height}`]) {
        const td = document.createElement("td");
        td.textContent = String(v);
        tr.append(td);
      }
      t.append(tr);
    }
  }
  return t;
}

/** A uPlot chart of `field` for every reporter of `stream`, on the window's time axis. */
function chart(stream, h, label, field, unit, marks) {
  const el = document.createElement("div");
  el.className = "chart";
  el.dataset.field = field;
  const times = [...new Set(stream.series.flatMap((x) => x.samples.map((p) => p.at)))].sort((a, b) => a - b);
  const data = [times.map((t) => t / 1000)];
  for (const x of stream.series) {
    const at = new Map(x.samples.map((p) => [p.at, p[field]]));
    data.push(times.map((t) => (at.has(t) ? at.get(t) : null)));
  }
  const width = Math.max(280, Math.min(1100, $("quality").clientWidth - 10));
  const opts = {
    title: `${stream.streamID}: ${unit}`,
    width,
    height: 180,
    scales: { x: { time: true, range: [h.from / 1000, h.to / 1000] } },
    series: [{}, ...stream.series.map((x, i) => ({ label: label(x), stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true, points: { show: true, size: 4 } }))],
    axes: [{}, { label: unit, size: 60 }],
    plugins: [markPlugin(marks)],
  };
  // uPlot measures the element it draws into: draw once it is in the page.
  requestAnimationFrame(() => {
    charts.push(new window.uPlot(opts, data, el));
  });
  return el;
}

/** Vertical lines at stalls (red) and reconnects (amber). */
function markPlugin(marks) {
  return {
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          ctx.save();
          ctx.lineWidth = 2 * devicePixelRatio;
          for (const m of marks) {
            const x = u.valToPos(m.at / 1000, "x", true);
            ctx.strokeStyle = m.color;
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
          }
          ctx.restore();
        },
      ],
    },
  };
}
