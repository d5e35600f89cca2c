// The Web SDK's pure parts, bundled from the TypeScript sources as the build does: how a
// WHIP/WHEP refusal is classified and reported, and how quality is graded. (Links, publishing
// and playing run in chromium: web/test/sdk.test.mjs.)
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "src");

async function load(file) {
  const out = await build({ entryPoints: [join(src, file)], bundle: true, format: "esm", platform: "neutral", write: false });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString("base64")}`);
}

test("a WHIP/WHEP refusal: tried again, renewed, or final, with the code the page sees", async () => {
  const { Refusal } = await load("exchange.ts");
  const cases = [
    // status, server code → passing, renewable, reported code
    [404, "stream_not_found", true, false, 40402],
    [409, "stream_live", true, false, 60302],
    [503, "webrtc_busy", true, false, 60302],
    [429, "webrtc_stream_busy", true, false, 60302],
    [502, "http_502", true, false, 60302],
    [0, "network", true, false, 60302],
    [403, "url_expired", false, true, 60401],
    [403, "url_bad_signature", false, true, 60401],
    [403, "origin_not_allowed", false, false, 60401],
    [406, "webrtc_unplayable", false, false, 60401],
    [400, "bad_sdp", false, false, 60401],
    [403, "stream_taken", false, false, 40303],
  ];
  for (const [status, code, passing, renewable, reported] of cases) {
    const r = new Refusal(status, code, "why");
    assert.equal(r.passing, passing, `${code} passing`);
    assert.equal(r.renewable, renewable, `${code} renewable`);
    const err = r.asError("play cam");
    assert.equal(err.code, reported, `${code} reported`);
    if (status) assert.match(err.msg, new RegExp(`^play cam: ${status} ${code}: why$`));
  }
});

test("quality grades from loss and round-trip time", async () => {
  const { grade } = await load("quality.ts");
  assert.equal(grade(0, 20), 0);
  assert.equal(grade(0.02, 20), 1);
  assert.equal(grade(0, 200), 1);
  assert.equal(grade(0.05, 20), 2);
  assert.equal(grade(0.2, 20), 3);
  assert.equal(grade(0, 1000), 3);
  assert.equal(grade(0.5, 20), 4);
  assert.equal(grade(0, 2000), 4);
});
