// The console and the debug page in Debian's chromium (driven by playwright-core) against a
// real `duet serve`: log in, create an app, mint a token, join a room where ffmpeg publishes a
// test pattern through `duet url publish --room-id`, and watch it play over WHEP in the debug
// page (the Web SDK served at /sdk/duet-web.js); then two debug pages in one room, one
// publishing its fake camera and microphone through the page's Publish section, the other
// playing it; and the console's call-quality view of such a call (a screenshot in
// target/artifacts/console-quality.png).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { DUET } from "../../sdk/miniprogram/test/harness/duet.mjs";
import { startDuetAndChromium } from "./chromium.mjs";
import { ffmpegPublish } from "./webrtc.mjs";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = join(here, "..", "..", "target", "artifacts");
const PHONE = { viewport: { width: 412, height: 915 } };
/** A rate above zero in a quality line of the debug page's log (a RegExp source). */
const RATE = "[1-9]\\d*";

let duet;
let browser;
let stop;
let ffmpeg;

before(async () => {
  ({ duet, browser, stop } = await startDuetAndChromium([
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
  ]));
});

after(async () => {
  if (ffmpeg && ffmpeg.exitCode === null) ffmpeg.kill("SIGKILL");
  if (stop) await stop();
});

/** A debug page opened at `path` whose uncaught errors and CSP refusals land in `errors`. */
async function openDebug(path, errors) {
  const page = await browser.newPage(PHONE);
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && /Content Security Policy/.test(m.text()) && errors.push(m.text()));
  await page.goto(`${duet.http}${path}`);
  return page;
}

/** A debug page of the default app, joined to `roomID` as `userID` with a minted token. */
async function debugIn(roomID, userID, errors) {
  const token = await duet.token(userID, { roomID });
  const q = new URLSearchParams({ appID: String(duet.appID), roomID, userID, token });
  const page = await openDebug(`/debug?${q}`, errors);
  await joinRoom(page, roomID, userID);
  return page;
}

/** Presses Join and waits until the page says it is in `roomID` as `userID`. */
async function joinRoom(page, roomID, userID) {
  await page.click("#join");
  await page.waitForFunction(
    (expected) => document.querySelector("#state").textContent.startsWith(expected),
    `In room ${roomID} as ${userID}`,
  );
}

/** Waits until the page's events log matches `pattern` (a RegExp source). */
async function waitLog(page, pattern, timeout = 20000) {
  await page.waitForFunction((p) => new RegExp(p).test(document.querySelector("#log").textContent), pattern, { timeout });
}

/** What the `<video>` with `selector` shows: its size, decoded frames, time and state. */
function videoState(page, selector = "#video") {
  return page.evaluate((sel) => {
    const v = document.querySelector(sel);
    return {
      width: v.videoWidth,
      height: v.videoHeight,
      frames: v.getVideoPlaybackQuality().totalVideoFrames,
      time: v.currentTime,
      paused: v.paused,
    };
  }, selector);
}

/** Asserts the `<video>` with `selector` keeps decoding frames over 1.5 s. */
async function assertDecoding(page, selector = "#video") {
  await page.waitForFunction((sel) => document.querySelector(sel).getVideoPlaybackQuality().totalVideoFrames > 10, selector, { timeout: 20000 });
  const first = await videoState(page, selector);
  await page.waitForTimeout(1500);
  const later = await videoState(page, selector);
  assert.ok(later.width > 0, `the video has a size: ${JSON.stringify(later)}`);
  assert.ok(later.frames > first.frames + 10, `frames keep decoding: ${JSON.stringify([first, later])}`);
  assert.ok(later.time > first.time + 0.5, `time advances: ${JSON.stringify([first, later])}`);
  assert.equal(later.paused, false);
  return later;
}

test("console login, app, token, and the debug page plays a room's stream over WHEP", async () => {
  assert.ok(duet.consolePassword, "the first start prints the console password");
  const page = await browser.newPage(PHONE); // a phone-sized screen
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));

  // The console refuses a wrong password, then logs in.
  await page.goto(`${duet.http}/`);
  await page.fill("#password", "not-the-password");
  await page.click("#login");
  await page.waitForFunction(() => document.querySelector("#loginError").textContent.length > 0);
  assert.match(await page.textContent("#loginError"), /wrong username or password/);
  await page.fill("#password", duet.consolePassword);
  await page.click("#login");
  await page.waitForSelector("#consoleView:not(.hidden)");
  assert.equal(await page.textContent("#addrServer"), duet.server);
  assert.equal(await page.textContent("#addrSocket"), duet.server.replace(/\/ws$/, ""));
  // A node without a cluster lists itself, with its signaling address and load.
  assert.match(await page.textContent("#clusterState"), /one node, no cluster/);
  const nodeRows = await page.$$eval("#nodes tr", (rows) => rows.map((r) => [...r.children].map((td) => td.textContent)));
  assert.equal(nodeRows.length, 1, JSON.stringify(nodeRows));
  assert.equal(nodeRows[0][1], duet.server);

  // Create an app; its AppID appears in the table; its secret is revealed on click.
  await page.fill("#newName", "browser-test");
  await page.click("#createApp");
  await page.waitForFunction(() => /Created browser-test/.test(document.querySelector("#appsMsg").textContent));
  const appID = Number(/AppID (\d+)/.exec(await page.textContent("#appsMsg"))[1]);
  await page.click(`tr[data-app="${appID}"] button`);
  const secret = await page.textContent(`tr[data-app="${appID}"] code`);
  assert.match(secret, /^[0-9a-f]{32}$/);

  // Mint a token for a viewer in room "demo".
  await page.selectOption("#tokenApp", String(appID));
  await page.fill("#tokenUser", "viewer");
  await page.fill("#tokenRoom", "demo");
  await page.click("#mintToken");
  await page.waitForFunction(() => document.querySelector("#tokenOut").value.startsWith("04"));
  const debugHref = await page.getAttribute("#debugLink", "href");

  // An external encoder publishes into the room.
  const { stdout } = await run(DUET, [
    "url", "publish", "--data", duet.data, "--app-id", String(appID), "--stream-id", "cam",
    "--room-id", "demo", "--user-id", "encoder", "--public-rtmp-url", `rtmp://${duet.rtmp}`,
  ]);
  ffmpeg = ffmpegPublish(stdout.trim(), 60);

  // The debug page joins with the minted token and plays the stream over WHEP.
  const debug = await openDebug(debugHref, errors);
  assert.equal(await debug.inputValue("#appID"), String(appID));
  await joinRoom(debug, "demo", "viewer");
  await debug.waitForSelector('tr[data-stream="cam"] button', { timeout: 20000 });
  await debug.click('tr[data-stream="cam"] button');
  const shown = await assertDecoding(debug);
  assert.deepEqual([shown.width, shown.height], [320, 240]);
  await waitLog(debug, "play cam: PLAYING");
  assert.equal(await debug.textContent('tr[data-stream="cam"] button'), "Stop");
  // The SDK's playQualityUpdate, summarised in the log (a report after the first has rates).
  await waitLog(debug, `quality play cam: video ${RATE} kbit/s ${RATE} fps 320×240, audio ${RATE} kbit/s`);

  // A broadcast from the page reaches the room; the console's live view shows the room.
  await debug.fill("#message", "hello from the browser");
  await debug.click("#sendMessage");
  await waitLog(debug, "me: hello from the browser");
  await page.selectOption("#liveApp", String(appID));
  await page.waitForFunction(() => {
    const room = document.querySelector('#live [data-room="demo"]');
    return room && /viewer/.test(room.textContent) && /cam \(encoder\)/.test(room.textContent);
  }, null, { timeout: 10000 });

  // Stop ends the play.
  await debug.click('tr[data-stream="cam"] button');
  await waitLog(debug, "play cam: NO_PLAY");
  assert.equal(await debug.evaluate(() => document.querySelector("#video").srcObject), null);

  mkdirSync(ARTIFACTS, { recursive: true });
  await debug.screenshot({ path: join(ARTIFACTS, "debug-page.png"), fullPage: true });
  await page.screenshot({ path: join(ARTIFACTS, "console.png"), fullPage: true });
  assert.deepEqual(errors, []);
  ffmpeg.kill("SIGKILL");
});

test("two debug pages in one room: one publishes its camera and microphone, the other plays it", async () => {
  const errors = [];
  const alice = await debugIn("duo", "alice", errors);
  const bob = await debugIn("duo", "bob", errors);
  await alice.waitForFunction(() => /bob/.test(document.querySelector("#users").textContent));
  await bob.waitForFunction(() => /alice/.test(document.querySelector("#users").textContent));

  // Alice publishes her camera and microphone under the default stream ID.
  assert.equal(await alice.inputValue("#streamID"), "alice-cam");
  await alice.click("#publish");
  await waitLog(alice, "publish alice-cam: PUBLISHING");
  assert.match(await alice.textContent("#publishState"), /PUBLISHING/);
  // The preview's first frame may come a moment after the server's PUBLISHING.
  await alice.waitForFunction(() => document.querySelector("#preview").videoWidth > 0, null, { timeout: 5000 }).catch(() => {});
  const preview = await videoState(alice, "#preview");
  assert.ok(preview.width > 0, `the preview shows the camera: ${JSON.stringify(preview)}`);
  assert.equal(await alice.evaluate(() => document.querySelector("#preview").muted), true);

  // Bob sees the stream and plays it: his video decodes frames.
  await bob.waitForSelector('tr[data-stream="alice-cam"] button', { timeout: 20000 });
  assert.match(await bob.textContent('tr[data-stream="alice-cam"]'), /from alice/);
  await bob.click('tr[data-stream="alice-cam"] button');
  await assertDecoding(bob);
  await waitLog(bob, "play alice-cam: PLAYING");
  // The SDK's quality reports, summarised: video and the microphone's audio flow both ways.
  await waitLog(bob, `quality play alice-cam: video ${RATE} kbit/s ${RATE} fps \\d+×\\d+, audio ${RATE} kbit/s`);
  await waitLog(alice, `quality publish alice-cam: video ${RATE} kbit/s ${RATE} fps \\d+×\\d+, audio ${RATE} kbit/s`);

  // Mute toggles.
  await alice.click("#muteMic");
  assert.equal(await alice.textContent("#muteMic"), "Unmute mic");
  await waitLog(alice, "mic muted");
  await alice.click("#muteCamera");
  assert.equal(await alice.textContent("#muteCamera"), "Unmute camera");
  await alice.click("#muteCamera");
  assert.equal(await alice.textContent("#muteCamera"), "Mute camera");

  // Messages and commands between them.
  await alice.fill("#message", "hi bob");
  await alice.click("#sendMessage");
  await waitLog(bob, "alice: hi bob");
  await bob.fill("#command", "wave");
  await bob.fill("#commandTo", "alice");
  await bob.click("#sendCommand");
  await waitLog(bob, "command sent to alice");
  await waitLog(alice, "command from bob: wave");

  mkdirSync(ARTIFACTS, { recursive: true });
  await alice.screenshot({ path: join(ARTIFACTS, "debug-publisher.png"), fullPage: true });
  await bob.screenshot({ path: join(ARTIFACTS, "debug-player.png"), fullPage: true });

  // Stop: the stream leaves the room, the camera is released.
  await alice.click("#stopPublish");
  await waitLog(alice, "publish alice-cam: NO_PUBLISH");
  assert.equal(await alice.evaluate(() => document.querySelector("#preview").srcObject), null);
  assert.equal(await alice.isEnabled("#publish"), true);
  // Bob's player waits for the stream to come back, and keeps its Stop until he presses it.
  await waitLog(bob, "stream DELETE alice-cam");
  assert.match(await bob.textContent('tr[data-stream="alice-cam"]'), /no longer live\s*Stop/);
  await bob.click('tr[data-stream="alice-cam"] button');
  await bob.waitForSelector('tr[data-stream="alice-cam"]', { state: "detached" });

  // Bob leaves: Alice's user list drops him.
  await bob.click("#leave");
  await bob.waitForFunction(() => /Left the room/.test(document.querySelector("#state").textContent));
  await alice.waitForFunction(() => !/bob/.test(document.querySelector("#users").textContent));
  await waitLog(alice, "user DELETE bob");
  assert.deepEqual(errors, []);
});

test("the console draws a room's call quality from a real call: timeline, bitrate and frame rate per member", async () => {
  const errors = [];
  const alice = await debugIn("quality", "alice", errors);
  const bob = await debugIn("quality", "bob", errors);
  await alice.click("#publish");
  await waitLog(alice, "publish alice-cam: PUBLISHING");
  await bob.waitForSelector('tr[data-stream="alice-cam"] button', { timeout: 20000 });
  await bob.click('tr[data-stream="alice-cam"] button');
  await assertDecoding(bob);

  // The console, logged in, on the default app's room "quality": the SDKs report every 15 s,
  // so two reports of each side come within about 35 s.
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${duet.http}/`);
  await page.fill("#password", duet.consolePassword);
  await page.click("#login");
  await page.waitForSelector("#consoleView:not(.hidden)");
  await page.selectOption("#qualityApp", String(duet.appID));
  const stream = '#quality .quality-stream[data-stream="alice-cam"]';
  const deadline = Date.now() + 60000;
  for (;;) {
    await page.click("#qualityRefresh");
    const points = await page.$eval(stream, (d) => Number(d.dataset.points)).catch(() => 0);
    if (points >= 4) break; // two from alice (sent), two from bob (received)
    assert.ok(Date.now() < deadline, `quality samples: ${points}`);
    await page.waitForTimeout(2000);
  }
  assert.equal(await page.inputValue("#qualityRoom"), "quality");
  // The timeline: both members in the room, alice's stream published.
  const lanes = await page.$$eval("#quality .lane", (ls) => ls.map((l) => [l.dataset.member || l.dataset.stream, l.querySelectorAll(".seg").length]));
  assert.deepEqual(lanes, [["alice", 1], ["bob", 1], ["alice-cam", 1]], JSON.stringify(lanes));
  // Two charts drawn by uPlot (bitrate, frame rate), each with a line for the sender and one for
  // the receiver, their values what the SDKs measured (above zero).
  await page.waitForFunction((sel) => document.querySelectorAll(`${sel} .chart canvas`).length === 2, stream);
  const legends = await page.$$eval(`${stream} .chart[data-field="videoKbps"] .u-legend .u-series .u-label`, (ls) => ls.map((l) => l.textContent));
  assert.deepEqual(legends.slice(1).sort(), ["alice (sent)", "bob (received)"], JSON.stringify(legends));
  const api = await page.evaluate(async (appID) => (await fetch(`/console/api/apps/${appID}/quality/quality`)).json(), String(duet.appID));
  const series = api.streams.find((s) => s.streamID === "alice-cam").series;
  for (const x of series) {
    assert.ok(x.samples.length >= 2, JSON.stringify(x));
    assert.ok(x.samples.every((p) => p.videoKbps > 0 && p.fps > 0 && p.width > 0), JSON.stringify(x));
  }
  // The publisher's round trip (from its candidate pair; a WHEP player's may not be known yet).
  assert.ok(series.find((x) => x.role === "publish").samples.every((p) => typeof p.rttMs === "number"), "browsers report the round trip");
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, "console-quality.png"), fullPage: true });

  await alice.click("#stopPublish");
  await waitLog(alice, "publish alice-cam: NO_PUBLISH");
  await bob.click("#leave");
  await alice.click("#leave");
  assert.deepEqual(errors, []);
});

test("the console API refuses requests without a login", async () => {
  const res = await fetch(`${duet.http}/console/api/overview`);
  assert.equal(res.status, 401);
  assert.equal((await res.json()).code, "login_required");
  const form = await fetch(`${duet.http}/console/api/login`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "username=admin&password=x",
  });
  assert.equal(form.status, 415, "a cross-site form cannot post to the console");
});
