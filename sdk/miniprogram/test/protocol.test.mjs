// The SDK's protocol vocabulary (src/core/protocol.ts) against the server's source, so neither
// side can add, rename or renumber a request op, a push or an error code without the other:
// ops from `decode` in crates/room/src/wire.rs, codes from the `codes!` table in
// crates/room/src/error.rs, and push names from every place the server sends one (wire.rs
// only formats pushes; the room crate and the server's signaling loop name them).
// (docs/protocol.md is checked against error.rs by the Rust test `protocol_doc_lists_every_code`.)
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { OPS, PUSHES, ServerError } from "../dist/core/protocol.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const read = (...path) => readFileSync(join(root, ...path), "utf8");
const roomSrc = join("crates", "room", "src");

/** The Rust source without its `#[cfg(test)]` modules (they name ops that do not exist). */
function withoutTests(source) {
  const at = source.indexOf("#[cfg(test)]");
  return at < 0 ? source : source.slice(0, at);
}

/** Both ways: what one side has and the other lacks. */
function assertSameSet(sdk, server, what) {
  const s = new Set(sdk);
  const r = new Set(server);
  assert.ok(r.size > 0, `found no ${what} in the server's source: has its shape changed?`);
  assert.deepEqual([...r].filter((x) => !s.has(x)), [], `${what} the server has and src/core/protocol.ts lacks`);
  assert.deepEqual([...s].filter((x) => !r.has(x)), [], `${what} src/core/protocol.ts has and the server lacks`);
}

test("every request op of wire.rs, and no other, is in protocol.ts", () => {
  const wire = withoutTests(read(roomSrc, "wire.rs"));
  const decode = wire.slice(wire.indexOf("fn decode("), wire.indexOf("fn validate("));
  const ops = [];
  for (const arm of decode.matchAll(/^\s*("[A-Za-z]+"(?:\s*\|\s*"[A-Za-z]+")*)\s*=>/gm)) {
    for (const name of arm[1].matchAll(/"([A-Za-z]+)"/g)) ops.push(name[1]);
  }
  assertSameSet(OPS, ops, "request ops");
});

test("every error code of error.rs, with its name and number, is in protocol.ts", () => {
  const server = {};
  for (const m of withoutTests(read(roomSrc, "error.rs")).matchAll(/^\s*[A-Z]\w* = (\d+), "([a-z_]+)";/gm)) server[m[2]] = Number(m[1]);
  assertSameSet(Object.keys(ServerError), Object.keys(server), "error codes");
  for (const [name, code] of Object.entries(server)) assert.equal(ServerError[name], code, `the number of ${name}`);
});

test("every push the server sends, and no other, is in protocol.ts", () => {
  const files = readdirSync(join(root, roomSrc))
    .filter((f) => f.endsWith(".rs"))
    .map((f) => join(roomSrc, f));
  // The server sends a few pushes itself (its signaling folder); read every file under src/.
  const serverSrc = join("crates", "server", "src");
  const walk = (dir) =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith(".rs") ? [join(dir, e.name)] : [],
    );
  files.push(...walk(serverSrc));
  const pushes = [];
  for (const file of files) {
    const source = withoutTests(read(file));
    // wire::push("name", …), room_event(now, app, room, "name", …), and, where the name is a
    // variable, `let name = if barrage { "a" } else { "b" };`
    for (const m of source.matchAll(/wire::push\(\s*"([A-Za-z]+)"|room_event\([^")]*"([A-Za-z]+)"/g)) pushes.push(m[1] || m[2]);
    for (const m of source.matchAll(/let name = if [^;]*;/g)) {
      for (const lit of m[0].matchAll(/"([A-Za-z]+)"/g)) pushes.push(lit[1]);
    }
  }
  assertSameSet(PUSHES, pushes, "push names");
});
