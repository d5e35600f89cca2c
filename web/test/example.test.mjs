// The Web example (examples/web) in Debian's chromium with a fake camera and microphone, against
// a real `duet serve`, served with its tokens by examples/dev-server.mjs as a developer runs it:
// a call with the mini-program example's video call page (its real code on the wx stand-in of
// sdk/miniprogram/test/harness, ffmpeg doing what <live-pusher>/<live-player> do), a call
// between two browser pages, and the error codes the page shows.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { stopAllMedia } from "../../sdk/miniprogram/test/harness/media.mjs";
import { EXAMPLES_DIR, PageInstance, SDK_DIR } from "../../sdk/miniprogram/test/harness/miniprogram.mjs";
import { startTokenServer } from "../../sdk/miniprogram/test/harness/token-server.mjs";
import { waitFor } from "../../sdk/miniprogram/test/harness/wait.mjs";
import { FAKE_MEDIA_FLAGS, startDuetAndChromium } from "./chromium.mjs";
import { callState, join as joinCall, openExample, playsRising, sendMessage } from "./example-page.mjs";
import { decodedTone } from "./webrtc.mjs";

const require = createRequire(import.meta.url);
let duet;
let browser;
let stop;
let devServer;
/** Where the dev server serves the page. */
let pageURL;

before(async () => {
  // The wx stand-in runs the mini-program SDK as WeChat's "build npm" gives it: its dist.
  if (!existsSync(join(SDK_DIR, "dist", "index.js"))) execFileSync("npm", ["run", "build"], { cwd: SDK_DIR, stdio: "inherit" });
  ({ duet, browser, stop } = await startDuetAndChromium(FAKE_MEDIA_FLAGS));
  devServer = await startTokenServer(duet);
  pageURL = new URL("/", devServer.url).href;
  const config = require(join(EXAMPLES_DIR, "config.js"));
  Object.assign(config, { appID: duet.appID, server: duet.server, tokenURL: devServer.url, tokens: {} });
});

after(async () => {
  stopAllMedia();
  if (devServer) devServer.stop();
  if (stop) await stop();
});

/** The example page pointed at this test's Duet by query parameters (its token URL is the dev server's own `/token`). */
const openPage = (fields = {}) => openExample(browser, pageURL, { appID: duet.appID, server: duet.server, ...fields });

function snapshots(webPages, mpPages = []) {
  let last = "";
  const snapshot = async () => {
    last = JSON.stringify({
      web: await Promise.all(webPages.map(async (p) => ({ ...(await callState(p)), errors: p.errors }))),
      mp: mpPages.map((p) => ({
        user: p.data.userID,
        room: p.data.roomState,
        publish: p.data.publishState,
        plays: p.data.playStates,
        users: p.data.users,
        messages: p.data.messages,
        error: p.data.error,
        players: [...p.media.players].map(([id, m]) => ({ id, frames: m.frames, err: m.stderr })),
      })),
    });
  };
  return { snapshot, detail: () => last };
}

/** waitFor on the pages' state: `check` gets the web pages' states (in order), refreshed each poll. */
function waitOn(webPages, mpPages, check, what, timeout = 20000) {
  const { snapshot, detail } = snapshots(webPages, mpPages);
  return waitFor(
    async () => {
      await snapshot();
      return check(await Promise.all(webPages.map(callState)));
    },
    { timeout, what, detail },
  );
}

const remote = (state, streamID) => state.tiles.find((t) => !t.local && t.streamID === streamID);

test("a browser page and the mini-program's video call page hold a call", async () => {
  const roomID = "web-and-mp";
  const mp = new PageInstance("videocall", "component");
  mp.onLoad({ roomID, userID: "mp-alice" });
  const web = await openPage();
  const on = (check, what, timeout) => waitOn([web], [mp], ([s]) => check(s), what, timeout);
  try {
    await mp.openRoom();
    await joinCall(web, { roomID, userID: "web-bob" });
    const joined = await on((s) => s.room === "CONNECTED" && s.publish === "PUBLISHING" && s, "the browser to join and publish");
    const webStream = joined.streamID;
    assert.equal(webStream, "web-bob-web");
    const mpStream = mp.data.pushStreamID;

    // Each sees the other join.
    await waitFor(() => mp.data.users.includes("web-bob"), { what: "the mini-program to see the browser's user" });
    await on((s) => s.users.includes("mp-alice"), "the browser to see the mini-program's user");

    // The browser plays the mini-program's stream (H.264 + AAC over RTMP → WHEP with Opus).
    await on((s) => remote(s, mpStream) && remote(s, mpStream).state === "PLAYING", "the browser to play the mini-program's stream");
    await playsRising(web, mpStream, waitFor);

    // The mini-program plays the browser's stream over RTMP (WHIP → H.264 + AAC).
    await waitFor(() => (mp.media.players.get(webStream) || {}).frames >= 15 && mp.data.playStates[webStream] === "PLAYING", {
      timeout: 20000,
      what: "the mini-program's <live-player> to decode the browser's video",
      detail: () => JSON.stringify({ plays: mp.data.playStates, players: [...mp.media.players.keys()] }),
    });
    const playURL = mp.media.players.get(webStream).url;
    assert.match(playURL, /^rtmp:\/\//);
    const heard = await decodedTone(playURL, 2);
    console.log(`# the browser's microphone as the mini-program hears it: ${heard.rmsDb.toFixed(1)} dBFS`);
    assert.ok(heard.rmsDb > -60, `the browser's audio reaches the mini-program: ${JSON.stringify(heard)}`);

    // Messages both ways.
    mp.bindMessageInput({ detail: { value: "hello from the mini-program" } });
    await mp.sendMessage();
    await on((s) => s.messages.includes("mp-alice: hello from the mini-program"), "the browser to receive the mini-program's message");
    await sendMessage(web, "hello from the browser");
    await waitFor(() => mp.data.messages.some((m) => m.from === "web-bob" && m.text === "hello from the browser"), {
      what: "the mini-program to receive the browser's message",
      detail: () => JSON.stringify(mp.data.messages),
    });

    // The browser hangs up: the mini-program sees its stream deleted and its user leave.
    await web.click("#hangUp");
    await waitFor(() => !mp.media.players.has(webStream) && !mp.data.duetPlayerList.some((c) => c.playerId === webStream), {
      timeout: 10000,
      what: "the mini-program to stop playing the browser's deleted stream",
    });
    await waitFor(() => !mp.data.users.includes("web-bob"), { what: "the browser's user to leave" });
    const left = await callState(web);
    assert.deepEqual(left.tiles, [], "hanging up removes every tile");
    assert.equal(left.room, "DISCONNECTED");
    assert.equal(left.publish, "NO_PUBLISH");

    // It joins again and plays the mini-program's stream again; then the mini-program hangs up.
    await joinCall(web);
    await on((s) => remote(s, mpStream) && remote(s, mpStream).state === "PLAYING", "the browser to play the mini-program again after rejoining");
    await waitFor(() => mp.data.playStates[webStream] === "PLAYING", { what: "the mini-program to play the browser again" });
    mp.logout();
    const ended = await on((s) => !remote(s, mpStream) && s, "the browser to drop the mini-program's deleted stream", 10000);
    assert.ok(ended.log.some((l) => l.includes(`roomStreamUpdate DELETE ${mpStream}`)), ended.log.join("\n"));
    await on((s) => !s.users.includes("mp-alice"), "the mini-program's user to leave");
    assert.deepEqual(web.errors, []);
  } finally {
    mp.unload();
    await web.close();
  }
});

test("two browser pages hold a call through the example page", async () => {
  const roomID = "two-browsers";
  const ann = await openPage({ roomID, userID: "web-ann" });
  const ben = await openPage({ roomID, userID: "web-ben" });
  const on = (check, what, timeout) => waitOn([ann, ben], [], check, what, timeout);
  try {
    // The form comes filled in from the query.
    assert.equal(await ann.inputValue("#userID"), "web-ann");
    assert.equal(await ann.inputValue("#roomID"), roomID);
    await joinCall(ann);
    await joinCall(ben);
    await on(([a, b]) => a.publish === "PUBLISHING" && b.publish === "PUBLISHING", "both to publish");
    await on(([a, b]) => a.users.includes("web-ben") && b.users.includes("web-ann"), "each to see the other join");
    await on(
      ([a, b]) => remote(a, "web-ben-web") && remote(a, "web-ben-web").state === "PLAYING" && remote(b, "web-ann-web") && remote(b, "web-ann-web").state === "PLAYING",
      "each to play the other",
    );
    await Promise.all([playsRising(ann, "web-ben-web", waitFor), playsRising(ben, "web-ann-web", waitFor)]);

    await sendMessage(ann, "hi Ben");
    await sendMessage(ben, "hi Ann");
    await on(
      ([a, b]) => a.messages.includes("web-ben: hi Ann") && b.messages.includes("web-ann: hi Ben") && a.messages.includes("me: hi Ben"),
      "messages both ways",
    );

    // Muting the microphone and the camera turns the published tracks off, and back on.
    const enabled = (page) => page.evaluate(() => document.querySelector(".tile.local video").srcObject.getTracks().map((t) => `${t.kind}:${t.enabled}`).sort());
    await ann.click("#muteMic");
    await ann.click("#muteCamera");
    assert.deepEqual(await enabled(ann), ["audio:false", "video:false"]);
    assert.equal((await ann.textContent("#muteMic")).trim(), "Unmute mic");
    await ann.click("#muteMic");
    await ann.click("#muteCamera");
    assert.deepEqual(await enabled(ann), ["audio:true", "video:true"]);

    // Ann hangs up: Ben sees her stream deleted and her leave; Ann's camera is released.
    const annTracks = await ann.evaluate(() => {
      window.annLocal = document.querySelector(".tile.local video").srcObject;
      return window.annLocal.getTracks().length;
    });
    assert.equal(annTracks, 2);
    await ann.click("#hangUp");
    const ended = await on(([, b]) => !remote(b, "web-ann-web") && !b.users.includes("web-ann") && b, "Ben to see Ann's stream deleted and Ann leave", 10000);
    assert.ok(ended.log.some((l) => l.includes("roomStreamUpdate DELETE web-ann-web")), ended.log.join("\n"));
    assert.equal(await ann.evaluate(() => window.annLocal.getTracks().every((t) => t.readyState === "ended")), true);
    const a = await callState(ann);
    assert.deepEqual(a.tiles, []);
    assert.equal(a.room, "DISCONNECTED");
    assert.deepEqual(ann.errors, []);
    assert.deepEqual(ben.errors, []);
  } finally {
    await ann.close();
    await ben.close();
  }
});

test("the page shows a refused login's code, and a kick-out's when the same user joins elsewhere", async () => {
  const roomID = "errors";
  // An AppID the server does not know: the token is good, the login is refused.
  const wrongApp = await openExample(browser, pageURL, { appID: 1, server: duet.server, roomID, userID: "web-cat" });
  const first = await openPage({ roomID, userID: "web-cat" });
  const second = await openPage({ roomID, userID: "web-cat" });
  try {
    await joinCall(wrongApp);
    await wrongApp.waitForSelector("#error:not([hidden])");
    assert.match(await wrongApp.textContent("#error"), /^joining errors failed: \d{5} /);
    assert.equal(await wrongApp.isEnabled("#join"), true, "the form is back for another try");

    await joinCall(first);
    await waitOn([first], [], ([s]) => s.publish === "PUBLISHING", "the first page to publish");
    await joinCall(second);
    const kicked = await waitOn([first], [], ([s]) => s.room === "DISCONNECTED" && s.tiles.length === 0 && s, "the first page to be kicked out");
    assert.match(await first.textContent("#error"), /out of room errors: error 41000/);
    assert.equal(kicked.publish, "NO_PUBLISH");
    await waitOn([second], [], ([s]) => s.room === "CONNECTED", "the second page to stay in");
  } finally {
    await Promise.all([wrongApp.close(), first.close(), second.close()]);
  }
});
