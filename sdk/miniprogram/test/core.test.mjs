// The platform-neutral core without a server: it stays free of `wx` (so a browser adapter can
// reuse it), and the queue of operations made while away keeps only their net effect.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { PendingOps } from "../dist/core/pending.js";

const coreDir = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "core");

test("src/core uses no wx API and imports nothing outside src/core", () => {
  for (const file of readdirSync(coreDir).filter((f) => f.endsWith(".ts"))) {
    const code = readFileSync(join(coreDir, file), "utf8")
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/\/\/.*$/gm, "");
    assert.doesNotMatch(code, /\bwx\b|\bWx[A-Z]\w*/, `${file} touches wx; go through Platform (core/platform.ts)`);
    assert.doesNotMatch(code, /from "\.\.\//, `${file} imports from outside src/core`);
  }
});

/** A waiter that records what it got. */
function waiter(log, name) {
  return { resolve: (r) => log.push([name, "ok", r.url]), reject: (e) => log.push([name, "err", e.code]) };
}

const drain = (q) => {
  const ops = [];
  for (let op = q.next(); op; op = q.next()) ops.push(op);
  return ops;
};
const shape = (ops) => ops.map((o) => `${o.kind} ${o.roomID}${o.streamID ? ` ${o.streamID}` : ""}`);

test("a publish cancels the queued stop of its stream, and a stop cancels a queued publish", () => {
  const q = new PendingOps();
  const log = [];
  q.stopPublish("r", "x");
  q.publish({ roomID: "r", streamID: "x", extraInfo: "", streamParams: undefined }, waiter(log, "first"));
  assert.equal(q.size, 1, "the stop is gone: the server keeps the reservation");
  const op = q.cancelPublish("x", { code: 60010, msg: "stopped" });
  assert.deepEqual(op && op.cancelled && op.cancelled.kind, "stopPublish", "the stop it cancelled is handed back");
  assert.deepEqual(log, [["first", "err", 60010]]);
  assert.equal(q.size, 0);
  assert.equal(q.cancelPublish("x", { code: 1, msg: "" }), undefined, "nothing left to cancel");
});

test("a second publish of a stream absorbs the first; one in another room keeps the stop before it", () => {
  const q = new PendingOps();
  const log = [];
  q.stopPublish("r", "x");
  q.publish({ roomID: "r", streamID: "x", extraInfo: "a", streamParams: undefined }, waiter(log, "one"));
  q.publish({ roomID: "r", streamID: "x", extraInfo: "b", streamParams: undefined }, waiter(log, "two"));
  const [op] = drain(q);
  assert.equal(op.extraInfo, "b");
  assert.equal(op.cancelled.kind, "stopPublish", "still replaces the stop the first one cancelled");
  op.waiters.forEach((w) => w.resolve({ streamID: "x", url: "u" }));
  assert.deepEqual(log, [["one", "ok", "u"], ["two", "ok", "u"]]);

  q.stopPublish("r1", "y");
  q.publish({ roomID: "r2", streamID: "y", extraInfo: "", streamParams: undefined }, waiter(log, "three"));
  assert.deepEqual(shape(drain(q)), ["stopPublish r1 y", "publish r2 y"], "released in r1 before it is reserved in r2");
});

test("a logout drops what was queued for its room; a newer token replaces an older one", () => {
  const q = new PendingOps();
  const log = [];
  q.renewToken("a");
  q.stopPublish("a", "s1");
  q.publish({ roomID: "a", streamID: "s2", extraInfo: "", streamParams: undefined }, waiter(log, "s2"));
  q.renewToken("b");
  q.renewToken("a");
  q.logout("a", { code: 60010, msg: "logout" });
  q.renewToken("b");
  assert.deepEqual(shape(drain(q)), ["logout a", "renewToken b"]);
  assert.deepEqual(log, [["s2", "err", 60010]]);
});

test("an operation put back is sent first next time; clear rejects every queued publish", () => {
  const q = new PendingOps();
  const log = [];
  q.stopPublish("r", "x");
  q.publish({ roomID: "r", streamID: "y", extraInfo: "", streamParams: undefined }, waiter(log, "y"));
  const first = q.next();
  q.putBack(first);
  assert.deepEqual(shape([q.next()]), ["stopPublish r x"]);
  q.clear({ code: 60002, msg: "destroyed" });
  assert.equal(q.size, 0);
  assert.deepEqual(log, [["y", "err", 60002]]);
});

test("log uploads wait for the session's credential and give a refused one up", async () => {
  const { Logger } = await import("../dist/core/logger.js");
  const posts = [];
  let status = 200;
  const platform = { postJSON: (url, body) => (posts.push(JSON.parse(body)), Promise.resolve(status)) };
  const logger = new Logger("http://duet.test/httplog", { appID: 1, sdkVersion: "t" }, () => 5, platform);
  logger.verbose = false;
  logger.configure({ remoteLogLevel: "info" });
  try {
    logger.info("before login");
    await logger.flush();
    assert.equal(posts.length, 0, "nothing is uploaded without a credential");

    logger.identity.sessionID = "17";
    logger.adoptCredential({ logToken: "100.ab" });
    status = 401;
    await logger.flush();
    assert.equal(posts.length, 1);
    assert.equal(posts[0].logToken, "100.ab");
    assert.equal(posts[0].sessionID, "17");
    assert.equal(logger.identity.logToken, undefined, "a refused credential is forgotten");
    await logger.flush();
    assert.equal(posts.length, 1, "and nothing more is sent until a new one comes");

    status = 200;
    logger.adoptCredential({ logToken: "200.cd" });
    await logger.flush();
    assert.equal(posts.length, 2);
    assert.deepEqual(posts[1].entries.map((e) => e.message), ["before login"], "the batch waited, whole");
    assert.equal(posts[1].logToken, "200.cd");
  } finally {
    await logger.close();
  }
});
