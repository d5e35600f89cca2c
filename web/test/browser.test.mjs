// The console and the debug page in Debian's chromium (driven by playwright-core) against a
// real `duet serve`: log in, create an app, mint a token, join a room where ffmpeg publishes a
// test pattern through `duet url publish --room-id`, and watch the video decode.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { DUET } from "../../sdk/miniprogram/test/harness/duet.mjs";
import { startDuetAndChromium } from "./chromium.mjs";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = join(here, "..", "..", "target", "artifacts");

let duet;
let browser;
let stop;
let ffmpeg;

before(async () => {
  ({ duet, browser, stop } = await startDuetAndChromium(["--autoplay-policy=no-user-gesture-required"]));
});

after(async () => {
  if (ffmpeg && ffmpeg.exitCode === null) ffmpeg.kill("SIGKILL");
  if (stop) await stop();
});

/** ffmpeg publishing a yuv420p H.264 + AAC test pattern for at most `seconds`. */
function publish(url, seconds) {
  const args = ["-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"];
  args.push("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", String(seconds));
  args.push("-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-threads", "1");
  args.push("-c:a", "aac", "-f", "flv", url);
  return spawn("ffmpeg", args, { stdio: ["ignore", "ignore", "pipe"] });
}

test("console login, app, token, and the debug page plays a room's stream", async () => {
  assert.ok(duet.consolePassword, "the first start prints the console password");
  const page = await browser.newPage({ viewport: { width: 412, height: 915 } }); // a phone-sized screen
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
  ffmpeg = publish(stdout.trim(), 60);

  // The debug page joins with the minted token and plays the stream.
  const debug = await browser.newPage({ viewport: { width: 412, height: 915 } });
  debug.on("pageerror", (e) => errors.push(e.message));
  await debug.goto(`${duet.http}${debugHref}`);
  assert.equal(await debug.inputValue("#appID"), String(appID));
  await debug.click("#join");
  await debug.waitForFunction(() => /In room demo as viewer/.test(document.querySelector("#state").textContent));
  await debug.waitForSelector('tr[data-stream="cam"] button', { timeout: 20000 });
  await debug.click('tr[data-stream="cam"] button');

  const sample = () =>
    debug.evaluate(() => {
      const v = document.querySelector("#video");
      return { frames: v.getVideoPlaybackQuality().totalVideoFrames, time: v.currentTime, paused: v.paused };
    });
  await debug.waitForFunction(() => document.querySelector("#video").getVideoPlaybackQuality().totalVideoFrames > 25, null, { timeout: 20000 });
  const first = await sample();
  await debug.waitForTimeout(1500);
  const later = await sample();
  assert.ok(later.frames > first.frames + 10, `frames keep decoding: ${JSON.stringify([first, later])}`);
  assert.ok(later.time > first.time + 0.5, `time advances: ${JSON.stringify([first, later])}`);
  assert.equal(later.paused, false);
  const behind = await debug.evaluate(() => {
    const v = document.querySelector("#video");
    return v.buffered.end(v.buffered.length - 1) - v.currentTime;
  });
  assert.ok(behind < 2, `playback stays near the live edge (${behind.toFixed(2)} s behind)`);

  // A broadcast from the page reaches the room; the console's live view shows the room.
  await debug.fill("#message", "hello from the browser");
  await debug.click("#sendMessage");
  await debug.waitForFunction(() => /me: hello from the browser/.test(document.querySelector("#log").textContent));
  await page.selectOption("#liveApp", String(appID));
  await page.waitForFunction(() => {
    const room = document.querySelector('#live [data-room="demo"]');
    return room && /viewer/.test(room.textContent) && /cam \(encoder\)/.test(room.textContent);
  }, null, { timeout: 10000 });

  mkdirSync(ARTIFACTS, { recursive: true });
  await debug.screenshot({ path: join(ARTIFACTS, "debug-page.png"), fullPage: true });
  await page.screenshot({ path: join(ARTIFACTS, "console.png"), fullPage: true });
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
