// Many nodes as one service (docs/cluster.md), through the SDK: the example's video call page
// (native <live-pusher>/<live-player>, ffmpeg doing what they do) on three `duet serve` nodes
// joined on Debian's redis-server. Two members on different nodes hold a call, each playing
// from the node it dialled; then the node holding the room is killed (SIGKILL) mid-call and the
// call comes back on the nodes left, with no page code beyond the example's. A node drained
// mid-call (`duet node drain`) sends its members to the node it names, one the page did not list.
// Before both, Redis is down for 30 s during a call, which goes on, and a member joining after
// finds everyone.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { Duet } from "./harness/duet.mjs";
import { stopAllMedia } from "./harness/media.mjs";
import { describePages, EXAMPLES_DIR, PageInstance } from "./harness/miniprogram.mjs";
import { Redis } from "./harness/redis.mjs";
import { startTokenServer } from "./harness/token-server.mjs";
import { waitFor } from "./harness/wait.mjs";

const require = createRequire(import.meta.url);
const config = require(join(EXAMPLES_DIR, "config.js"));
let redis;
let nodes = [];
let tokens;

before(async () => {
  redis = await Redis.start();
  // Every `duet` this test file runs (the nodes, the CLI minting tokens) is in the cluster.
  process.env.DUET_REDIS_URL = redis.url;
  for (const name of ["node-a", "node-b", "node-c"]) nodes.push(await Duet.start(["--node-id", name]));
  for (const node of nodes) {
    await waitFor(async () => (await (await fetch(`${node.http}/healthz`)).json()).cluster?.nodes === 3, {
      what: "every node to list the three",
    });
  }
  tokens = await startTokenServer(nodes[0]);
  Object.assign(config, { appID: nodes[0].appID, tokenURL: tokens.url, tokens: {} });
});

after(async () => {
  stopAllMedia();
  if (tokens) tokens.stop();
  for (const node of nodes) await node.stop();
  if (redis) redis.stop();
});

/** A page of the native video call for `userID` in `roomID`, its engine given `servers`. */
function page(userID, servers, roomID = "cluster-call") {
  config.server = servers;
  const p = new PageInstance("videocall-native", "native");
  p.onLoad({ roomID, userID });
  return p;
}

/** The URL the page's one player plays ("" while it has none). */
const played = (p) => [...p.media.players.values()][0]?.url || "";
/** Frames `page` decoded of the stream of `other`. */
const frames = (p, other) => p.media.players.get(other.data.pushStreamID)?.frames || 0;

const metric = async (node, name) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(await node.metrics())?.[1]);

/** Whether `page` decodes (at least 15 new frames of) the stream of `other`. */
function decodes(page, other, since = 0) {
  const p = page.media.players.get(other.data.pushStreamID);
  return !!p && p.frames >= since + 15 && page.data.playStates[other.data.pushStreamID] === "PLAYING";
}

test("a call across nodes goes on while Redis is down for 30 s, and a member joining afterwards finds everyone", async () => {
  const [a, b, c] = nodes;
  const alice = page("alice", [a.server], "redis-call");
  const bob = page("bob", [b.server], "redis-call");
  let carol;
  let outage;
  const show = describePages(alice, bob);
  const health = async (node) => (await (await fetch(`${node.http}/healthz`)).json()).cluster?.state;
  try {
    await alice.openRoom();
    await bob.openRoom();
    await waitFor(() => decodes(alice, bob) && decodes(bob, alice), { timeout: 30000, what: "each to decode the other", detail: show });

    // Redis goes away for 30 s: the nodes say so, and the call (Bob relayed to A) goes on.
    const before = [frames(alice, bob), frames(bob, alice)];
    outage = redis.restart(30000);
    await waitFor(async () => (await health(a)) === "degraded" && (await health(b)) === "degraded", {
      timeout: 10000,
      what: "the nodes to report the cluster degraded",
    });
    await new Promise((r) => setTimeout(r, 20000));
    assert.ok(frames(alice, bob) > before[0] + 100 && frames(bob, alice) > before[1] + 100, `media flowed during the outage: ${show()}`);
    assert.equal(alice.data.roomState, "CONNECTED");
    assert.equal(bob.data.roomState, "CONNECTED");
    await outage;
    await waitFor(async () => (await health(a)) === "healthy" && (await health(c)) === "healthy", {
      timeout: 10000,
      what: "the nodes to be healthy again",
    });

    // Carol joins through C afterwards: she finds the room on A and plays both.
    carol = page("carol", [c.server], "redis-call");
    await carol.openRoom();
    await waitFor(() => decodes(carol, alice) && decodes(carol, bob), {
      timeout: 30000,
      what: "carol to decode both",
      detail: describePages(alice, bob, carol),
    });
  } catch (e) {
    for (const node of nodes) console.log(`--- ${node.http}\n${node.stderr.split("\n").slice(-30).join("\n")}`);
    throw e;
  } finally {
    alice.unload();
    bob.unload();
    if (carol) carol.unload();
    // Redis is back before the next test, whatever happened.
    if (outage) await outage.catch(() => {});
  }
});

test("members on different nodes hold a call, each playing from its own node; the call comes back after the room's node is killed", async () => {
  const [a, b, c] = nodes;
  // Alice dials A first: A holds the room. Bob dials B (and knows C).
  const alice = page("alice", [a.server, c.server]);
  const bob = page("bob", [b.server, c.server]);
  const show = describePages(alice, bob);
  try {
    await alice.openRoom();
    await bob.openRoom();
    await waitFor(() => decodes(alice, bob) && decodes(bob, alice), { timeout: 30000, what: "each to decode the other", detail: show });
    // Each plays from the node it dialled; both publish to the room's node, A.
    assert.ok(played(alice).startsWith(`rtmp://${a.rtmp}/`), show());
    assert.ok(played(bob).startsWith(`rtmp://${b.rtmp}/`), show());
    assert.ok(bob.media.pusher.url.startsWith(`rtmp://${a.rtmp}/`), show());
    // A serves Alice's play of Bob's stream and one pull of Alice's stream for B.
    const counts = async () => [await metric(a, "duet_media_players"), await metric(b, "duet_signaling_relayed_connections")];
    let seen;
    await waitFor(async () => JSON.stringify((seen = await counts())) === "[2,1]", {
      what: "A to serve two plays and B to relay one connection",
      detail: () => JSON.stringify(seen),
    });

    // The room's node dies. Alice's SDK reconnects to C, Bob's to B again; their sessions died
    // with A, so each logs in again, publishes again, and plays the other's new stream.
    const killed = Date.now();
    await a.crash();
    await waitFor(() => alice.media.players.size === 0 || played(alice).startsWith(`rtmp://${c.rtmp}/`), {
      timeout: 20000,
      what: "alice's old play to end",
      detail: show,
    });
    await waitFor(
      () =>
        alice.media.pusher &&
        !alice.media.pusher.url.includes(a.rtmp) &&
        alice.media.players.size === 1 &&
        played(alice).startsWith(`rtmp://${c.rtmp}/`) &&
        played(bob).startsWith(`rtmp://${b.rtmp}/`) &&
        decodes(alice, bob, 0) &&
        decodes(bob, alice, 0) &&
        frames(alice, bob) >= 15 &&
        frames(bob, alice) >= 15,
      { timeout: 40000, what: "the call to come back on B and C", detail: show },
    );
    const back = Date.now() - killed;
    console.log(`from the kill of the room's node to both decoding each other again: ${back} ms`);
    assert.equal(alice.data.roomState, "CONNECTED");
    assert.equal(bob.data.roomState, "CONNECTED");
  } catch (e) {
    for (const node of nodes.slice(1)) console.log(`--- ${node.http}\n${node.stderr.split("\n").slice(-40).join("\n")}`);
    throw e;
  } finally {
    alice.unload();
    bob.unload();
  }
});

test("a node drained mid-call sends its members to another node, which the page did not list", async () => {
  const [, b, c] = nodes;
  // Alice knows B only, where the room lives; Bob dials C and is relayed to B.
  const alice = page("alice", [b.server], "drain-call");
  const bob = page("bob", [c.server], "drain-call");
  const show = describePages(alice, bob);
  try {
    await alice.openRoom();
    await bob.openRoom();
    await waitFor(() => decodes(alice, bob) && decodes(bob, alice), { timeout: 30000, what: "each to decode the other", detail: show });
    assert.ok(alice.media.pusher.url.startsWith(`rtmp://${b.rtmp}/`), show());

    // B drains: it tells both SDKs to go to C; they log in there, publish there, and play there.
    const asked = Date.now();
    const exited = b.drain();
    await waitFor(
      () =>
        alice.media.pusher?.url.startsWith(`rtmp://${c.rtmp}/`) &&
        bob.media.pusher?.url.startsWith(`rtmp://${c.rtmp}/`) &&
        played(alice).startsWith(`rtmp://${c.rtmp}/`) &&
        played(bob).startsWith(`rtmp://${c.rtmp}/`) &&
        frames(alice, bob) >= 15 &&
        frames(bob, alice) >= 15,
      { timeout: 40000, what: "the call to come back on C", detail: show },
    );
    console.log(`from the drain of the room's node to both decoding each other again on another node: ${Date.now() - asked} ms`);
    assert.equal(await exited, 0, "the drained node exits cleanly");
    assert.equal(alice.data.roomState, "CONNECTED");
    assert.equal(bob.data.roomState, "CONNECTED");
    assert.equal(await metric(c, "duet_signaling_relayed_connections"), 0, "both are at home on C");
  } catch (e) {
    for (const node of [b, c]) console.log(`--- ${node.http}\n${node.stderr.split("\n").slice(-40).join("\n")}`);
    throw e;
  } finally {
    alice.unload();
    bob.unload();
  }
});
