// A real `duet serve` and a token server for the example pages, with the examples' config.js
// pointed at them (what a developer does to run the examples against their own Duet).
import { createRequire } from "node:module";
import { join } from "node:path";

import { Duet } from "./duet.mjs";
import { stopAllMedia } from "./media.mjs";
import { EXAMPLES_DIR } from "./miniprogram.mjs";
import { startTokenServer } from "./token-server.mjs";

const require = createRequire(import.meta.url);

/** Starts both; `stop()` ends them and every ffmpeg the test started. */
export async function startExampleServer() {
  const duet = await Duet.start();
  const tokens = await startTokenServer(duet);
  const config = require(join(EXAMPLES_DIR, "config.js"));
  Object.assign(config, { appID: duet.appID, server: duet.server, tokenURL: tokens.url, tokens: {} });
  return {
    duet,
    async stop() {
      stopAllMedia();
      tokens.stop();
      await duet.stop();
    },
  };
}
