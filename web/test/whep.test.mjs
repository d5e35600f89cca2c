// WHEP playback in Debian's chromium against a real `duet serve`: ffmpeg publishes H.264 + AAC
// over RTMP and a page plays it over WebRTC with the URL `duet url play --format whep` prints;
// a page publishes its fake camera over WHIP and another page plays it over WHEP.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { DUET } from "../../sdk/miniprogram/test/harness/duet.mjs";
import { FAKE_MEDIA_FLAGS, startDuetAndChromium } from "./chromium.mjs";
import { decodedTone, ffmpegFlashes, ffmpegPublish, heardTone, onsets, playedOnsets, playFrom, playerStats, publishFrom, skews } from "./webrtc.mjs";

const run = promisify(execFile);
const last_ = (list) => list[list.length - 1];
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

let duet;
let browser;
let stop;
const encoders = [];

before(async () => {
  ({ duet, browser, stop } = await startDuetAndChromium(FAKE_MEDIA_FLAGS));
});

after(async () => {
  for (const e of encoders) if (e.exitCode === null) e.kill("SIGKILL");
  if (stop) await stop();
});

async function duetUrl(stream, ...args) {
  const base = ["--data", duet.data, "--app-id", String(duet.appID), "--stream-id", stream];
  const { stdout } = await run(DUET, ["url", ...args, ...base]);
  return stdout.trim();
}

async function waitLive(flv) {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const r = await fetch(flv);
    if (r.body) await r.body.cancel();
    if (r.status === 200) return;
    await sleep(200);
  }
  assert.fail(`${flv} did not go live`);
}

/** Samples the player's stats `times` times, `everyMs` apart. */
async function sample(page, times, everyMs) {
  const out = [];
  for (let i = 0; i < times; i++) {
    await sleep(everyMs);
    out.push(await playerStats(page));
  }
  return out;
}

test("ffmpeg publishes over RTMP; chromium plays it over WHEP from the cached keyframe, and it keeps playing", async () => {
  const publishUrl = await duetUrl("rtmp-cam", "publish", "--public-rtmp-url", `rtmp://${duet.rtmp}`);
  const encoder = ffmpegPublish(publishUrl, 60);
  encoders.push(encoder);
  const flv = await duetUrl("rtmp-cam", "play", "--format", "flv", "--public-http-url", duet.http);
  await waitLive(flv);
  await sleep(1500); // the player joins mid-GOP: it starts from the cached keyframe

  const whep = await duetUrl("rtmp-cam", "play", "--format", "whep", "--public-http-url", duet.http);
  assert.match(whep, new RegExp(`^${duet.http}/whep/${duet.appID}/rtmp-cam\\?expire=`));
  const page = await browser.newPage();
  await page.goto(`${duet.http}/healthz`);
  const played = await playFrom(page, whep);
  assert.equal(played.error, undefined, played.error);
  assert.equal(played.state, "connected");
  assert.match(played.location, /^\/whep\/\d+\/rtmp-cam\/[0-9a-f]{32}$/);
  assert.ok(played.firstFrameMs !== null, "a frame was decoded");
  console.log(`# WHEP first frame ${played.firstFrameMs.toFixed(0)} ms after ICE+DTLS connected`);

  const stats = await sample(page, 3, 1000);
  assert.equal(stats[0].codec, "video/H264");
  assert.equal(stats[0].width, 320);
  for (let i = 1; i < stats.length; i++) {
    assert.ok(stats[i].frames > stats[i - 1].frames + 10, `frames keep being decoded: ${JSON.stringify(stats)}`);
  }
  // The stream's AAC reaches the browser as Opus (transcoded once for the stream).
  assert.ok(last_(stats).samples > stats[0].samples + 40000, `audio samples keep arriving: ${JSON.stringify(stats)}`);
  assert.ok(last_(stats).audioEnergy > 0, "the audio is not silence");
  // The 1 kHz tone keeps its frequency and its level (within 1 dB of the AAC as published,
  // which ffmpeg decodes from HTTP-FLV) through AAC → Opus.
  const [published, heard] = await Promise.all([decodedTone(flv, 2), heardTone(page, 2)]);
  console.log(`# 1 kHz tone: published ${published.hz.toFixed(1)} Hz ${published.rmsDb.toFixed(2)} dBFS, heard over WHEP ${heard.hz.toFixed(1)} Hz ${heard.rmsDb.toFixed(2)} dBFS`);
  assert.ok(Math.abs(heard.hz - 1000) < 5, `heard ${heard.hz} Hz`);
  assert.ok(Math.abs(heard.rmsDb - published.rmsDb) <= 1, `level ${heard.rmsDb} dBFS vs ${published.rmsDb} dBFS published`);
  // The burst put the player at the live edge: a short jitter buffer, not the GOP's length.
  const last = stats[stats.length - 1];
  assert.ok(last.jitterBufferMs !== null && last.jitterBufferMs < 500, `jitter buffer ${last.jitterBufferMs} ms`);

  const deleted = await fetch(`${duet.http}${played.location}`, { method: "DELETE" });
  assert.equal(deleted.status, 200);
  assert.equal((await fetch(`${duet.http}${played.location}`, { method: "DELETE" })).status, 404);
  await page.close();
  encoder.kill("SIGKILL");
});

test("chromium publishes over WHIP and another chromium page plays it over WHEP", async () => {
  const whip = await duetUrl("browser-to-browser", "publish", "--format", "whip", "--public-http-url", duet.http);
  const sender = await browser.newPage();
  await sender.goto(`${duet.http}/healthz`);
  const published = await publishFrom(sender, whip);
  assert.equal(published.error, undefined, published.error);
  assert.equal(published.state, "connected");

  const whep = await duetUrl("browser-to-browser", "play", "--format", "whep", "--public-http-url", duet.http);
  const viewer = await browser.newPage();
  await viewer.goto(`${duet.http}/healthz`);
  const played = await playFrom(viewer, whep);
  assert.equal(played.error, undefined, played.error);
  assert.ok(played.firstFrameMs !== null, "a frame was decoded");
  const stats = await sample(viewer, 3, 1000);
  for (let i = 1; i < stats.length; i++) {
    assert.ok(stats[i].frames > stats[i - 1].frames + 5, `frames keep being decoded: ${JSON.stringify(stats)}`);
  }

  // The publisher leaves: the player's peer ends with the stream.
  await fetch(`${duet.http}${published.location}`, { method: "DELETE" });
  const state = await viewer.evaluate(async () => {
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && !["closed", "failed", "disconnected"].includes(window.duetPlayer.connectionState)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return window.duetPlayer.connectionState;
  });
  assert.notEqual(state, "connected", "the player's connection ends with the stream");
  await sender.close();
  await viewer.close();
});

test("WHEP refuses a stream that is not live and a publish URL", async () => {
  const page = await browser.newPage();
  await page.goto(`${duet.http}/healthz`);
  const whep = await duetUrl("nobody-here", "play", "--format", "whep", "--public-http-url", duet.http);
  const notLive = await playFrom(page, whep);
  assert.equal(notLive.status, 404, notLive.error);
  assert.match(notLive.error, /stream_not_found/);
  await page.close();
});

test("an RTMP stream's audio and video stay within 40 ms of each other over 60 s in a WHEP player", async () => {
  const publishUrl = await duetUrl("flashes", "publish", "--public-rtmp-url", `rtmp://${duet.rtmp}`);
  const encoder = ffmpegFlashes(publishUrl, 75);
  encoders.push(encoder);
  const flv = await duetUrl("flashes", "play", "--format", "flv", "--public-http-url", duet.http);
  await waitLive(flv);
  const whep = await duetUrl("flashes", "play", "--format", "whep", "--public-http-url", duet.http);
  const page = await browser.newPage();
  await page.goto(`${duet.http}/healthz`);
  // The same 60 s over HTTP-FLV (ffmpeg) and WHEP (chromium): what any RTMP player gets, and
  // what a browser gets after AAC → Opus.
  const [overFlv, overWhep] = await Promise.all([onsets(flv, 60), playedOnsets(page, whep, 60)]);
  assert.equal(overWhep.error, undefined, overWhep.error);
  const flvApart = skews(overFlv.flashes.map((s) => s * 1000), overFlv.beeps.map((s) => s * 1000));
  // A player starts with the cached GOP squeezed into a burst that ends at the live edge
  // (duet_media::RtcFeed): a flash in that first second carries a squeezed time on purpose and
  // has no beep of its own (audio starts at the live edge), so sync is measured after it.
  const settled = overWhep.flashes.filter((f) => f >= overWhep.firstFrame + 1000);
  const whepApart = skews(settled, overWhep.beeps);
  console.log(`# A/V sync over 60 s, RTMP -> HTTP-FLV, beep minus flash (ms): ${JSON.stringify(flvApart)}`);
  console.log(`# A/V sync over 60 s, RTMP -> WHEP, beep minus flash (ms): ${JSON.stringify(whepApart)}`);
  assert.ok(whepApart.length >= 50, `flashes ${overWhep.flashes.length}, beeps ${overWhep.beeps.length}`);
  const worst = Math.max(...whepApart.map(Math.abs));
  assert.ok(worst <= 40, `worst audio/video skew over WHEP ${worst} ms`);
  await page.close();
  encoder.kill("SIGKILL");
});

test("a browser whose network lets no UDP through plays over ICE-TCP", async () => {
  const publishUrl = await duetUrl("over-tcp", "publish", "--public-rtmp-url", `rtmp://${duet.rtmp}`);
  const encoder = ffmpegPublish(publishUrl, 40);
  encoders.push(encoder);
  await waitLive(await duetUrl("over-tcp", "play", "--format", "flv", "--public-http-url", duet.http));
  const page = await browser.newPage();
  await page.goto(`${duet.http}/healthz`);
  const whep = await duetUrl("over-tcp", "play", "--format", "whep", "--public-http-url", duet.http);
  const played = await playFrom(page, whep, { udp: false });
  assert.equal(played.error, undefined, played.error);
  assert.equal(played.state, "connected");
  const stats = await sample(page, 2, 1000);
  assert.ok(stats[1].frames > stats[0].frames + 10, `frames keep being decoded over TCP: ${JSON.stringify(stats)}`);
  const protocol = await page.evaluate(async () => {
    const report = await window.duetPlayer.getStats();
    const pair = [...report.values()].find((r) => r.type === "candidate-pair" && r.nominated && r.state === "succeeded");
    return pair && report.get(pair.remoteCandidateId).protocol;
  });
  assert.equal(protocol, "tcp");
  // The page goes without a DELETE: its player is cleaned up (ICE-TCP connection closed, or
  // 15 s of silence at the latest).
  await page.close();
  const deadline = Date.now() + 30000;
  let peers = -1;
  while (Date.now() < deadline) {
    peers = Number((await duet.metrics()).match(/^duet_webrtc_peers (\d+)/m)[1]);
    if (peers === 0) break;
    await sleep(250);
  }
  assert.equal(peers, 0, "the vanished player's peer ended within 30 s");
  encoder.kill("SIGKILL");
});
