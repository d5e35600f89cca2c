// What the browser tests share: a real `duet serve` and Debian's chromium (playwright-core),
// started together and stopped together.
import { chromium } from "playwright-core";

import { Duet } from "../../sdk/miniprogram/test/harness/duet.mjs";

/** The flags chromium needs here (docs/architecture.md, testing conventions). */
export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A camera and microphone without devices or prompts (a test pattern and a beep), and media
 * that plays without a click. */
export const FAKE_MEDIA_FLAGS = [
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--autoplay-policy=no-user-gesture-required",
];

/** Starts Duet and a headless chromium with `extraFlags`; `stop()` ends both. */
export async function startDuetAndChromium(extraFlags = []) {
  const duet = await Duet.start();
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: [...CHROMIUM_FLAGS, ...extraFlags],
    });
  } catch (e) {
    await duet.stop();
    throw e;
  }
  const stop = async () => {
    await browser.close();
    await duet.stop();
  };
  return { duet, browser, stop };
}
