// WHIP ingest in Debian's chromium (fake camera, H.264) against a real `duet serve`: a page on
// Duet's origin publishes with RTCPeerConnection to the URL `duet url publish --format whip`
// prints, then ffmpeg decodes the stream over HTTP-FLV and RTMP, and DELETE ends it; a page on
// another origin publishes too (CORS), and closing it without DELETE ends its stream; an app
// that lists its origins keeps other pages out, in the browser's own CORS checks.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { DUET } from "../../sdk/miniprogram/test/harness/duet.mjs";
import { FAKE_MEDIA_FLAGS, startDuetAndChromium } from "./chromium.mjs";
import { decodedTone, onsets, publishFlashes, publishFrom, skews } from "./webrtc.mjs";

const run = promisify(execFile);

let duet;
let browser;
let stop;

before(async () => {
  ({ duet, browser, stop } = await startDuetAndChromium(FAKE_MEDIA_FLAGS));
});

after(async () => {
  if (stop) await stop();
});

async function duetUrl(...args) {
  const base = ["--data", duet.data, "--app-id", String(duet.appID), "--stream-id", "browser-cam"];
  const { stdout } = await run(DUET, ["url", ...args, ...base]);
  return stdout.trim();
}

/** Frames ffmpeg decodes from `url` (at most `frames`, within `seconds`). */
async function decodedFrames(url, frames, seconds) {
  const args = ["-hide_banner", "-nostdin", "-rw_timeout", "10000000", "-i", url, "-frames:v", String(frames)];
  args.push("-an", "-f", "null", "-");
  const { stderr } = await run("ffmpeg", args, { timeout: seconds * 1000 });
  const counts = [...stderr.matchAll(/frame=\s*(\d+)/g)].map((m) => Number(m[1]));
  return { count: counts.length ? counts[counts.length - 1] : 0, stderr };
}

test("chromium publishes H.264 over WHIP; ffmpeg decodes it over HTTP-FLV and RTMP; DELETE ends it", async () => {
  const whip = await duetUrl("publish", "--format", "whip", "--public-http-url", duet.http);
  assert.match(whip, new RegExp(`^${duet.http}/whip/${duet.appID}/browser-cam\\?expire=`));
  const page = await browser.newPage();
  await page.goto(`${duet.http}/healthz`); // Duet's origin: the WHIP POST is same-origin
  // A 1 kHz sine at gain 0.25 (RMS −15.05 dBFS) as the microphone, from Web Audio.
  const published = await publishFrom(page, whip, { tone: { hz: 1000, gain: 0.25 } });
  assert.equal(published.error, undefined, published.error);
  assert.equal(published.state, "connected");
  assert.match(published.location, /^\/whip\/\d+\/browser-cam\/[0-9a-f]{32}$/);

  const flv = await duetUrl("play", "--format", "flv", "--public-http-url", duet.http);
  const overFlv = await decodedFrames(flv, 60, 30);
  assert.ok(overFlv.count >= 50, `HTTP-FLV decoded ${overFlv.count} frames:\n${overFlv.stderr}`);
  assert.match(overFlv.stderr, /Video: h264/);
  // The browser's Opus arrives as AAC (transcoded while the stream has RTMP/FLV players).
  assert.match(overFlv.stderr, /Audio: aac \(LC\), 48000 Hz/);
  // The tone keeps its frequency and level through Opus → AAC.
  const tone = await decodedTone(flv, 2);
  const sent = 20 * Math.log10(0.25 / Math.SQRT2);
  console.log(`# 1 kHz tone: sent ${sent.toFixed(2)} dBFS, decoded from HTTP-FLV ${tone.hz.toFixed(1)} Hz ${tone.rmsDb.toFixed(2)} dBFS`);
  assert.ok(Math.abs(tone.hz - 1000) < 5, `decoded ${tone.hz} Hz`);
  assert.ok(Math.abs(tone.rmsDb - sent) <= 1, `level ${tone.rmsDb} dBFS vs ${sent} dBFS sent`);
  const rtmp = await duetUrl("play", "--format", "rtmp", "--public-rtmp-url", `rtmp://${duet.rtmp}`);
  const overRtmp = await decodedFrames(rtmp, 60, 30);
  assert.ok(overRtmp.count >= 50, `RTMP decoded ${overRtmp.count} frames:\n${overRtmp.stderr}`);
  assert.match(overRtmp.stderr, /Audio: aac \(LC\), 48000 Hz/);

  const stats = await page.evaluate(async () => {
    const report = await window.duetPc.getStats();
    const out = [...report.values()].find((r) => r.type === "outbound-rtp" && r.kind === "video");
    const codec = out && report.get(out.codecId);
    return { codec: codec && codec.mimeType, frames: out && out.framesEncoded, plis: out && out.pliCount, keyframes: out && out.keyFramesEncoded };
  });
  assert.equal(stats.codec, "video/H264");
  // Browsers send keyframes when asked: Duet asks whenever the last one is 2 s old, so late
  // players start from a short GOP (the decodes above took several seconds; asking only for
  // the first keyframe gave one or two requests).
  assert.ok(stats.plis >= 2 && stats.keyframes >= 2, `keyframe requests ${stats.plis}, keyframes ${stats.keyframes}`);

  const deleted = await fetch(`${duet.http}${published.location}`, { method: "DELETE" });
  assert.equal(deleted.status, 200);
  const gone = await fetch(flv);
  assert.equal(gone.status, 404, "the stream ended with the DELETE");
  assert.equal((await fetch(`${duet.http}${published.location}`, { method: "DELETE" })).status, 404);
  await page.close();
});

test("a page on another origin publishes (CORS preflight); closing it without DELETE ends the stream", async () => {
  const whip = await duetUrl("publish", "--format", "whip", "--public-http-url", duet.http);
  const page = await browser.newPage();
  // Another origin than the WHIP URL's 127.0.0.1: the POST needs a preflight.
  await page.goto(duet.http.replace("127.0.0.1", "localhost") + "/healthz");
  const published = await publishFrom(page, whip);
  assert.equal(published.error, undefined, published.error);
  assert.equal(published.state, "connected");
  const flv = await duetUrl("play", "--format", "flv", "--public-http-url", duet.http);
  const live = await fetch(flv);
  assert.equal(live.status, 200);
  await live.body.cancel();
  await page.close(); // no DELETE: the browser is gone
  const deadline = Date.now() + 30000;
  let status = 200;
  while (Date.now() < deadline) {
    const r = await fetch(flv);
    status = r.status;
    if (r.body) await r.body.cancel();
    if (status === 404) break;
    await new Promise((done) => setTimeout(done, 250));
  }
  assert.equal(status, 404, "the stream ended within 30 s of the page closing");
});

test("an app that lists origins: other pages are refused WHIP and HTTP-FLV (and can read why), listed ones get in", async () => {
  const app = ["--data", duet.data, "--app-id", String(duet.appID)];
  const page = await browser.newPage();
  const origin = duet.http.replace("127.0.0.1", "localhost");
  await page.goto(`${origin}/healthz`);
  const whip = await duetUrl("publish", "--format", "whip", "--public-http-url", duet.http);
  const flv = await duetUrl("play", "--format", "flv", "--public-http-url", duet.http);
  /** What the page's fetch of `url` gets: the status, or the browser's CORS failure. */
  const fetchFrom = (url, init) =>
    page.evaluate(
      async ([url, init]) => {
        try {
          const res = await fetch(url, init);
          // Readable only through the CORS checks; a refusal's {code} too.
          const code = res.status >= 400 ? (await res.json().catch(() => ({}))).code : undefined;
          if (res.body && !res.bodyUsed) await res.body.cancel();
          return code ? { status: res.status, code } : { status: res.status };
        } catch (e) {
          return { error: String(e) };
        }
      },
      [url, init],
    );
  const offer = { method: "POST", headers: { "Content-Type": "application/sdp" }, body: "v=0" };

  await run(DUET, ["app", "origins", ...app, "https://call.example.com"]);
  await new Promise((done) => setTimeout(done, 1500)); // another process's change: seen within 1 s
  // Through the preflight (it grants nothing) to the request's refusal, which the page reads.
  assert.deepEqual(await fetchFrom(whip, offer), { status: 403, code: "origin_not_allowed" });
  assert.deepEqual(await fetchFrom(flv, {}), { status: 403, code: "origin_not_allowed" });
  assert.match(await duet.metrics(), /^duet_media_live_streams 0$/m, "nothing was published");

  await run(DUET, ["app", "origins", ...app, "https://call.example.com", origin]);
  await new Promise((done) => setTimeout(done, 1500));
  const allowed = await fetchFrom(whip, offer);
  assert.deepEqual(allowed, { status: 400, code: "bad_sdp" }, "through the origin check, to the offer's own refusal");
  const published = await publishFrom(page, whip);
  assert.equal(published.error, undefined, published.error);
  assert.equal(published.state, "connected");
  assert.match(published.location, /^\/whip\//, "Location is exposed to the page");
  assert.deepEqual(await fetchFrom(flv, {}), { status: 200 });
  assert.equal((await fetchFrom(`${duet.http}${published.location}`, { method: "DELETE" })).status, 200);
  await run(DUET, ["app", "origins", ...app, "*"]);
  await page.close();
});

test("a WHIP publish's audio and video keep together over 60 s (HTTP-FLV): no drift, within 40 ms of where the browser put them", async () => {
  const whip = await duetUrl("publish", "--format", "whip", "--public-http-url", duet.http);
  const page = await browser.newPage();
  await page.goto(`${duet.http}/healthz`);
  const published = await publishFlashes(page, whip);
  assert.equal(published.error, undefined, published.error);
  assert.equal(published.state, "connected");
  const flv = await duetUrl("play", "--format", "flv", "--public-http-url", duet.http);
  const { flashes, beeps, stderr } = await onsets(flv, 62);
  // The last second may be cut short by the 62 s window: its pair is left out.
  const last = Math.max(...flashes) - 1;
  const apart = skews(flashes.filter((f) => f < last).map((s) => s * 1000), beeps.map((s) => s * 1000));
  console.log(`# A/V sync over 60 s, WHIP -> HTTP-FLV, beep minus flash (ms): ${JSON.stringify(apart)}`);
  assert.ok(apart.length >= 50, `flashes ${flashes.length}, beeps ${beeps.length}, pairs ${apart.length}:\n${stderr.slice(-2000)}`);
  // The page's beep lags its flash by the browser's own capture path (a script node's buffers,
  // Web Audio, then WebRTC's 10 ms audio frames): 5-45 ms measured here, and it once stepped by
  // 30 ms mid-run with Duet's placement fixed (it is decided once, from the sender reports).
  // Duet must add no drift: a drift of its own would grow past these bounds within the minute
  // (RTMP -> WHEP, where the source is exact, measures 0 ms every second: whep.test.mjs).
  const spread = Math.max(...apart) - Math.min(...apart);
  assert.ok(spread <= 60, `audio/video skew moved by ${spread} ms over 60 s`);
  assert.ok(Math.max(...apart.map(Math.abs)) <= 60, `worst audio/video skew ${Math.max(...apart.map(Math.abs))} ms`);
  await fetch(`${duet.http}${published.location}`, { method: "DELETE" });
  await page.close();
});
