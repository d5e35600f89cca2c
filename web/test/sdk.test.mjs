// The Web SDK (sdk/web, served at /sdk/duet-web.js) in Debian's chromium against a real
// `duet serve`: pages written as for the hosted cloud's Web SDK. A server that crashes and
// comes back after 5 s costs a call nothing the page has to handle: the SDK logs in again,
// publishes again and plays again by itself, into the same <video> elements.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { DUET } from "../../sdk/miniprogram/test/harness/duet.mjs";

import { FAKE_MEDIA_FLAGS, startDuetAndChromium } from "./chromium.mjs";

const run = promisify(execFile);
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

let duet;
let browser;
let stop;

before(async () => {
  ({ duet, browser, stop } = await startDuetAndChromium(FAKE_MEDIA_FLAGS));
});

after(async () => {
  if (stop) await stop();
});

/**
 * A page as a developer writes it for the hosted cloud: log in, publish the camera and mic,
 * play each stream the room announces into a <video> (once: the page never plays again), and
 * record every event with its time (`window.seen`).
 */
async function joinCall(userID, roomID) {
  const page = await browser.newPage();
  await page.goto(`${duet.http}/healthz`);
  const token = await duet.token(userID, { roomID });
  const ok = await page.evaluate(
    async ({ sdk, server, appID, token, userID, roomID }) => {
      const { ZegoExpressEngine } = await import(sdk);
      const zg = new ZegoExpressEngine(appID, server);
      window.seen = [];
      window.videos = {};
      const note = (name) => (...args) => window.seen.push({ at: Date.now(), name, args: JSON.parse(JSON.stringify(args)) });
      for (const name of ["roomStateChanged", "roomStreamUpdate", "publisherStateUpdate", "playerStateUpdate", "playQualityUpdate"]) zg.on(name, note(name));
      zg.on("roomStreamUpdate", async (_room, type, list) => {
        if (type !== "ADD") return;
        for (const s of list) {
          if (window.videos[s.streamID]) continue;
          const video = document.createElement("video");
          video.autoplay = true;
          video.playsInline = true;
          window.videos[s.streamID] = video;
          document.body.append(video);
          video.srcObject = await zg.startPlayingStream(s.streamID);
        }
      });
      await zg.loginRoom(roomID, token, { userID, userName: userID });
      const local = await zg.createStream({ camera: { video: true, audio: true, videoQuality: 1 } });
      window.zg = zg;
      window.local = local;
      return zg.startPublishingStream(`${userID}-cam`, local);
    },
    { sdk: `${duet.http}/sdk/duet-web.js`, server: duet.server, appID: duet.appID, token, userID, roomID },
  );
  assert.equal(ok, true, `${userID}: startPublishingStream`);
  return page;
}

/** Frames the page's <video> of `streamID` has shown so far (-1 when it has none). */
const shownFrames = (page, streamID) =>
  page.evaluate((id) => (window.videos[id] ? window.videos[id].getVideoPlaybackQuality().totalVideoFrames : -1), streamID);

/** The page's play reports of `streamID` since `since` (ms since the epoch). */
const playReports = (page, streamID, since) =>
  page.evaluate(({ id, since }) => window.seen.filter((e) => e.name === "playQualityUpdate" && e.args[0] === id && e.at >= since).map((e) => ({ at: e.at, ...e.args[1] })), { id: streamID, since });

/**
 * Waits until `streamID` plays in `page` after `since`: its <video> shows new frames, and the
 * SDK's play reports show video and audio arriving. Resolves with when the first new frame
 * was seen (polled every 100 ms).
 */
async function waitPlaying(page, streamID, since, what) {
  const deadline = Date.now() + 45000;
  let frames = await shownFrames(page, streamID);
  let firstFrameAt = 0;
  let reports = [];
  while (Date.now() < deadline) {
    await sleep(100);
    const now = await shownFrames(page, streamID);
    if (!firstFrameAt && frames >= 0 && now > frames) firstFrameAt = Date.now();
    frames = now;
    reports = await playReports(page, streamID, since);
    const flowing = reports.some((r) => r.video.videoFPS > 5 && r.audio.audioBitrate > 5);
    if (firstFrameAt && flowing) return firstFrameAt;
  }
  assert.fail(`${what}: ${streamID} did not play: ${JSON.stringify(reports.slice(-2))}, frames shown ${frames}`);
}

/** `duet_media_refused_total` now. */
async function refusedRequests() {
  const line = (await duet.metrics()).split("\n").find((l) => l.startsWith("duet_media_refused_total "));
  return Number(line.split(" ")[1]);
}

const events = (page, name) => page.evaluate((name) => window.seen.filter((e) => e.name === name).map((e) => e.args), name);

test("a crashed server back after 5 s: both browsers publish and play again without the page doing anything", async (t) => {
  const ann = await joinCall("ann", "crash-room");
  const ben = await joinCall("ben", "crash-room");
  const start = Date.now();
  await Promise.all([waitPlaying(ann, "ben-cam", start, "before the crash"), waitPlaying(ben, "ann-cam", start, "before the crash")]);
  const framesBefore = await shownFrames(ben, "ann-cam");

  const crashed = Date.now();
  await duet.crashAndRestart(5000);
  const restarted = Date.now();
  const [annBack, benBack] = await Promise.all([
    waitPlaying(ben, "ann-cam", restarted, "after the restart"),
    waitPlaying(ann, "ben-cam", restarted, "after the restart"),
  ]);
  t.diagnostic(`server down ${restarted - crashed} ms; media flowing again ${annBack - restarted} ms (ann → ben) and ${benBack - restarted} ms (ben → ann) after it was back`);

  // The same <video> elements carried on: their frame counts kept rising from before.
  assert.ok((await shownFrames(ben, "ann-cam")) > framesBefore, "ben's video of ann kept its frames and went on");
  for (const [page, user] of [
    [ann, "ann"],
    [ben, "ben"],
  ]) {
    const reasons = (await events(page, "roomStateChanged")).map((a) => a[1]);
    assert.deepEqual(reasons.slice(reasons.indexOf("RECONNECTING")), ["RECONNECTING", "RECONNECTED"], `${user}: ${reasons}`);
    const published = (await events(page, "publisherStateUpdate")).map((a) => a[0].state);
    assert.equal(published[published.length - 1], "PUBLISHING", `${user} publishes again: ${published}`);
    assert.ok(published.filter((s) => s === "PUBLISHING").length >= 2, `${user}: PUBLISHING before and after: ${published}`);
  }
  await Promise.all([ann.close(), ben.close()]);
});

test("the Web API beyond calls: requirements, devices, sound levels and mute, refusals with their codes", async () => {
  const refusedBefore = await refusedRequests();
  const ann = await joinCall("amy", "api-room");
  const ben = await joinCall("bob", "api-room");
  await Promise.all([waitPlaying(ben, "amy-cam", Date.now(), "amy to bob"), waitPlaying(ann, "bob-cam", Date.now(), "bob to amy")]);
  // Setting up a call asks nothing the server refuses (a second WHIP POST of a live stream,
  // from a link restarted while still connecting, once ended the publish).
  assert.equal(await refusedRequests(), refusedBefore, "media requests refused while the call was set up");

  const system = await ben.evaluate(async () => {
    const req = await window.zg.checkSystemRequirements();
    const devices = await window.zg.enumDevices();
    return { req, cameras: devices.cameras.length, microphones: devices.microphones.length };
  });
  assert.equal(system.req.result, true, JSON.stringify(system.req));
  assert.equal(system.req.videoCodec.H264, true);
  assert.ok(system.cameras >= 1 && system.microphones >= 1, JSON.stringify(system));

  // Bob hears amy's fake microphone (its beeps), then silence once she mutes it.
  const levels = (page, ms) =>
    page.evaluate(async (ms) => {
      const seen = [];
      const cb = (list) => seen.push(...list.filter((l) => l.type === "pull").map((l) => l.soundLevel));
      window.zg.on("soundLevelUpdate", cb);
      window.zg.setSoundLevelDelegate(true, 100);
      await new Promise((r) => setTimeout(r, ms));
      window.zg.setSoundLevelDelegate(false);
      window.zg.off("soundLevelUpdate", cb);
      return seen;
    }, ms);
  const heard = await levels(ben, 3000);
  assert.ok(heard.length >= 10 && Math.max(...heard) > 0, `sound levels while amy speaks: ${heard}`);
  assert.equal(await ann.evaluate(() => window.zg.mutePublishStreamAudio(window.local, true)), true);
  await sleep(1000);
  const muted = await levels(ben, 2000);
  // (What was already in bob's jitter buffer may still sound for a moment.)
  assert.ok(muted.length >= 10 && Math.max(...muted.slice(5)) <= 1, `sound levels once amy muted: ${muted}`);
  assert.equal(await ann.evaluate(() => window.zg.mutePublishStreamAudio(window.local, false)), true);
  const quality = await ben.evaluate(() => window.zg.getPlayingStreamQuality("amy-cam"));
  assert.ok(quality && quality.video.frameWidth > 0 && quality.audio.audioCodec === "opus", JSON.stringify(quality));

  // A publish stopped before its reservation came back leaves nothing reserved: another user
  // takes the stream ID.
  await ann.evaluate(() => {
    window.zg.startPublishingStream("amy-blip", window.local);
    window.zg.stopPublishingStream("amy-blip");
  });
  await sleep(1500);
  const taken = await ben.evaluate(
    () =>
      new Promise((resolve) => {
        window.zg.on("publisherStateUpdate", (r) => r.streamID === "amy-blip" && r.state !== "PUBLISH_REQUESTING" && resolve(r));
        window.zg.startPublishingStream("amy-blip", window.local);
        setTimeout(() => resolve({ state: "no answer in 10 s" }), 10000);
      }),
  );
  assert.equal(taken.state, "PUBLISHING", `bob publishes the ID amy let go: ${JSON.stringify(taken)}`);
  await ben.evaluate(() => window.zg.stopPublishingStream("amy-blip"));

  // Play, stop, play again at once: the first call gives way (60010), the last one plays.
  const raced = await ben.evaluate(async () => {
    const zg = window.zg;
    const first = zg.startPlayingStream("amy-cam").then(() => "resolved", (e) => e.code);
    zg.stopPlayingStream("amy-cam");
    const stream = await zg.startPlayingStream("amy-cam");
    const video = document.createElement("video");
    video.muted = true;
    video.autoplay = true;
    video.srcObject = stream;
    document.body.append(video);
    window.videos["amy-cam"] = video;
    return { first: await first, tracks: stream.getTracks().map((t) => t.readyState) };
  });
  assert.equal(raced.first, 60010, JSON.stringify(raced));
  assert.ok(raced.tracks.every((s) => s === "live"), JSON.stringify(raced));
  await waitPlaying(ben, "amy-cam", Date.now(), "the last of play, stop, play");

  // A page on an origin the app does not allow: the play is refused for good, with the code.
  await run(DUET, ["app", "origins", "--data", duet.data, "--app-id", String(duet.appID), "https://only.example.com"]);
  await sleep(1500); // the server sees a change made by another process within a second
  try {
    const other = await browser.newPage();
    await other.goto(duet.http.replace("127.0.0.1", "localhost") + "/healthz");
    const token = await duet.token("cid", { roomID: "api-room" });
    const refused = await other.evaluate(
      async ({ sdk, server, appID, token }) => {
        const { ZegoExpressEngine } = await import(sdk);
        const zg = new ZegoExpressEngine(appID, server);
        const states = [];
        zg.on("playerStateUpdate", (r) => states.push(r));
        await zg.loginRoom("api-room", token, { userID: "cid" });
        const badLogin = await new ZegoExpressEngine(appID, server).loginRoom("api-room", "04nonsense", { userID: "cid2" }).catch((e) => e);
        const err = await zg.startPlayingStream("amy-cam").then(() => null, (e) => e);
        return { err, states, badLogin };
      },
      { sdk: `${duet.http}/sdk/duet-web.js`, server: duet.server, appID: duet.appID, token },
    );
    assert.equal(refused.err && refused.err.code, 60401, JSON.stringify(refused));
    assert.match(refused.err.msg, /403 origin_not_allowed/);
    const last = refused.states[refused.states.length - 1];
    assert.deepEqual([last.state, last.errorCode], ["NO_PLAY", 60401], JSON.stringify(refused.states));
    assert.equal(refused.badLogin.code, 40101, `a malformed token is refused with the server's code: ${JSON.stringify(refused.badLogin)}`);
    await other.close();
  } finally {
    await run(DUET, ["app", "origins", "--data", duet.data, "--app-id", String(duet.appID), "*"]);
  }
  await Promise.all([ann.close(), ben.close()]);
});
