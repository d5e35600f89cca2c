// Coming back after the connection broke, against a scripted server (harness/fake-server.mjs):
// when the server lost the session, the SDK logs into the room again; a refusal that says "not
// now" (the server cannot read the app registry: Redis away) is tried again on the next attempt
// rather than leaving the room, while a final refusal leaves it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { network } from "./harness/wx.mjs";
import { DuetEngine } from "../dist/index.js";
import { ServerError } from "../dist/core/protocol.js";
import { refuse, startFakeServer } from "./harness/fake-server.mjs";
import { record, waitFor } from "./harness/wait.mjs";

let server;
const engines = [];

before(async () => {
  server = await startFakeServer();
});

after(async () => {
  for (const zg of engines) zg.destroyEngine();
  if (server) await server.close();
});

/** An engine logged into `roomID` through the URL tagged `tag` (so the network can drop it alone). */
async function loggedIn(roomID, tag) {
  const zg = new DuetEngine(1, `${server.url}?who=${tag}`);
  zg.setDebugVerbose(false);
  engines.push(zg);
  assert.equal(await zg.loginRoom(roomID, "04token", { userID: `user-${roomID}` }), true);
  return zg;
}

/** Drops `tag`'s connection with the server answering `resume` "gone" and `login` by `login`. */
async function reconnectLost(zg, tag, login) {
  const events = record(zg, ["roomStateChanged"]);
  server.answer("resume", () => refuse(ServerError.resume_failed, "resume_failed", "the session is gone"));
  server.answer("login", login);
  network.down(`?who=${tag}`);
  await waitFor(() => events.some((e) => e[2] === "RECONNECTING"), { what: "RECONNECTING" });
  network.up(`?who=${tag}`);
  return events;
}

test("a login again refused registry_unavailable is tried again, and the room is kept", async () => {
  const zg = await loggedIn("kept", "registry");
  let refusals = 0;
  const events = await reconnectLost(zg, "registry", () => {
    refusals++;
    // Twice "cannot read the registry now", then the standard answer.
    if (refusals === 2) server.answer("login", undefined);
    return refuse(ServerError.registry_unavailable, "registry_unavailable", "cannot read the app registry now; try again");
  });
  try {
    await waitFor(() => events.some((e) => e[2] === "RECONNECTED" || e[2] === "RECONNECT_FAILED"), { timeout: 15000, what: "the end of reconnecting" });
    assert.equal(refusals, 2);
    assert.deepEqual(
      events.map((e) => e[2]),
      ["RECONNECTING", "RECONNECTED"],
      "the room is not left",
    );
  } finally {
    server.answer("resume", undefined);
    server.answer("login", undefined);
    zg.logoutRoom();
  }
});

test("a login again refused for good (unknown_app) leaves the room with that code", async () => {
  const zg = await loggedIn("left", "unknown");
  const events = await reconnectLost(zg, "unknown", () => refuse(ServerError.unknown_app, "unknown_app", "no app with AppID 1"));
  try {
    await waitFor(() => events.some((e) => e[2] === "RECONNECT_FAILED"), { timeout: 15000, what: "RECONNECT_FAILED" });
    const failed = events.find((e) => e[2] === "RECONNECT_FAILED");
    assert.equal(failed[3], ServerError.unknown_app);
  } finally {
    server.answer("resume", undefined);
    server.answer("login", undefined);
  }
});
