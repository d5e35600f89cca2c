// Low-latency HLS in Debian's chromium: hls.js (npm) in low-latency mode plays a live stream
// ffmpeg publishes over RTMP, from the URL `duet url play --format hls` prints. The test reports
// the player's distance from the live edge and checks that it plays parts, that time advances,
// and that video is decoded.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { DUET } from "../../sdk/miniprogram/test/harness/duet.mjs";
import { startDuetAndChromium } from "./chromium.mjs";
import { ffmpegPublish } from "./webrtc.mjs";

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

let duet;
let browser;
let stop;
let encoder;

before(async () => {
  ({ duet, browser, stop } = await startDuetAndChromium());
});

after(async () => {
  if (encoder && encoder.exitCode === null) encoder.kill("SIGKILL");
  if (stop) await stop();
});

async function duetUrl(stream, ...args) {
  const base = ["--data", duet.data, "--app-id", String(duet.appID), "--stream-id", stream];
  const { stdout } = await run(DUET, ["url", ...args, ...base]);
  return stdout.trim();
}

test("hls.js plays a live stream in low-latency mode: parts, advancing time, decoded video", async () => {
  const publishUrl = await duetUrl("hls-cam", "publish", "--public-rtmp-url", `rtmp://${duet.rtmp}`);
  encoder = ffmpegPublish(publishUrl, 60);
  const hls = await duetUrl("hls-cam", "play", "--format", "hls", "--public-http-url", duet.http);
  const deadline = Date.now() + 15000;
  while ((await fetch(hls)).status !== 200) {
    assert.ok(Date.now() < deadline, `${hls} never answered`);
    await sleep(300);
  }

  const page = await browser.newPage();
  await page.goto(`${duet.http}/healthz`);
  await page.addScriptTag({ path: require.resolve("hls.js/dist/hls.min.js") });
  const supported = await page.evaluate((url) => {
    // eslint-disable-next-line no-undef
    if (!Hls.isSupported()) return false;
    const video = document.createElement("video");
    video.muted = true;
    video.autoplay = true;
    document.body.append(video);
    // eslint-disable-next-line no-undef
    const hls = new Hls({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 });
    window.errors = [];
    // eslint-disable-next-line no-undef
    hls.on(Hls.Events.ERROR, (_e, data) => window.errors.push(`${data.type} ${data.details} fatal=${data.fatal}`));
    hls.loadSource(url);
    hls.attachMedia(video);
    window.hls = hls;
    window.video = video;
    return true;
  }, hls);
  assert.ok(supported, "hls.js runs in this chromium (Media Source Extensions)");

  const state = () =>
    page.evaluate(() => {
      const details = window.hls.levels?.[0]?.details;
      return {
        time: window.video.currentTime,
        latency: window.hls.latency,
        parts: details?.partList?.length ?? 0,
        canBlockReload: details?.canBlockReload ?? false,
        frames: window.video.getVideoPlaybackQuality().totalVideoFrames,
        errors: window.errors.filter((e) => e.includes("fatal=true")),
      };
    });
  const started = Date.now();
  let first;
  while (!(first = await state()).time) {
    assert.ok(Date.now() - started < 20000, `hls.js did not start: ${JSON.stringify(first)}`);
    await sleep(250);
  }
  await sleep(4000);
  const later = await state();
  console.log(`# hls.js (low-latency mode): ${later.latency.toFixed(2)} s from the live edge; ${later.parts} parts listed; first picture ${Date.now() - started - 4000} ms after the page loaded the playlist`);
  assert.deepEqual(later.errors, []);
  assert.ok(later.canBlockReload, "the playlist offers blocking reloads");
  assert.ok(later.parts > 0, "hls.js reads parts");
  assert.ok(later.time > first.time + 2, `time advances: ${first.time} -> ${later.time}`);
  assert.ok(later.frames > first.frames + 50, `frames decoded: ${first.frames} -> ${later.frames}`);
  assert.ok(Number.isFinite(later.latency) && later.latency > 0, `a live-edge distance: ${later.latency}`);
  await page.close();
});
