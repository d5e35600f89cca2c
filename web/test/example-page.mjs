// Driving the Web example page (examples/web) in chromium as a person would: its join form,
// buttons and message box, and reading back what it shows (states, users, tiles, messages,
// its event log). What the page's players decode comes from the browser's own statistics
// (getStats of the peer connection behind each remote tile's <video>).

/** Runs in each page before its scripts: keeps every RTCPeerConnection the page makes. */
function recordPeers() {
  const Native = window.RTCPeerConnection;
  window.duetPeers = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.duetPeers.push(this);
    }
  };
}

/** Opens the example page at `base` with `query` (config and form fields); page errors are kept in `page.errors`. */
export async function openExample(browser, base, query) {
  const page = await browser.newPage();
  page.setDefaultTimeout(10000);
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.addInitScript(recordPeers);
  await page.goto(`${base}?${new URLSearchParams(query)}`);
  return page;
}

/** Fills in the join form (fields left out keep what the page put there) and presses Join. */
export async function join(page, fields = {}) {
  for (const [name, value] of Object.entries(fields)) await page.fill(`#${name}`, value);
  await page.click("#join");
}

export async function sendMessage(page, text) {
  await page.fill("#message", text);
  await page.click("#send");
}

/** What the page shows: room and publish states, the users, its tiles, the messages, the log. */
export function callState(page) {
  return page.evaluate(() => {
    const text = (el, sel) => ((el.querySelector(sel) || {}).textContent || "").trim();
    return {
      room: text(document, "#roomState"),
      publish: text(document, "#publishState"),
      streamID: text(document, "#streamID"),
      users: [...document.querySelectorAll("#users li")].map((li) => li.dataset.userId),
      tiles: [...document.querySelectorAll("#tiles .tile")].map((t) => ({
        streamID: t.dataset.streamId,
        local: t.classList.contains("local"),
        state: text(t, ".state"),
        live: !!(t.querySelector("video") && t.querySelector("video").srcObject),
      })),
      messages: [...document.querySelectorAll("#messages li")].map((li) => li.textContent.trim()),
      log: [...document.querySelectorAll("#log li")].map((li) => li.textContent.trim()),
    };
  });
}

/** Decoded video frames and received audio samples of the remote tile playing `streamID` (null: no connected player). */
export function playedStats(page, streamID) {
  return page.evaluate(async (streamID) => {
    const video = [...document.querySelectorAll("#tiles .tile")].find((t) => t.dataset.streamId === streamID && !t.classList.contains("local"));
    const shown = video && video.querySelector("video") && video.querySelector("video").srcObject;
    if (!shown) return null;
    const tracks = shown.getTracks();
    const pc = window.duetPeers.find((p) => p.connectionState === "connected" && p.getReceivers().some((r) => tracks.includes(r.track)));
    if (!pc) return null;
    const report = [...(await pc.getStats()).values()];
    const inbound = (kind) => report.find((r) => r.type === "inbound-rtp" && r.kind === kind) || {};
    return { frames: inbound("video").framesDecoded || 0, samples: inbound("audio").totalSamplesReceived || 0 };
  }, streamID);
}

/** Resolves once the page's player of `streamID` decodes video and receives audio, both rising over a second. */
export async function playsRising(page, streamID, waitFor) {
  let seen;
  const first = await waitFor(
    async () => {
      seen = { stats: await playedStats(page, streamID), page: await callState(page) };
      return seen.stats && seen.stats.frames > 0 && seen.stats.samples > 0 && seen.stats;
    },
    { timeout: 20000, what: `${streamID} to be decoded in the browser`, detail: () => JSON.stringify(seen) },
  );
  await new Promise((r) => setTimeout(r, 1000));
  const later = await playedStats(page, streamID);
  if (!later || later.frames <= first.frames || later.samples <= first.samples) {
    throw new Error(`${streamID}: frames and audio samples should rise: ${JSON.stringify({ first, later })}`);
  }
  return { first, later };
}
