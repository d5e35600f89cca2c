// Runs examples/dev-server.mjs against a test's duet: the token source the example pages use
// (and the server of the Web example's page, at "/" of the same address).
import { spawn } from "node:child_process";
import { join } from "node:path";

import { DUET } from "./duet.mjs";
import { EXAMPLES_DIR } from "./miniprogram.mjs";

export function startTokenServer(duet) {
  const child = spawn(
    process.execPath,
    [join(EXAMPLES_DIR, "..", "dev-server.mjs"), "--duet", DUET, "--data", duet.data, "--app-id", String(duet.appID), "--port", "0"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`token server did not start: ${out}`)), 10000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = /listening on ([\d.:]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: `http://${m[1]}/token`, stop: () => child.kill() });
      }
    });
  });
}
