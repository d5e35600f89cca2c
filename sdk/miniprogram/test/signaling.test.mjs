// The SDK against a real `duet serve`: room events and messages, refusals, kick-out,
// reconnecting with session resume, logging in again after the grace period, server
// fallbacks, token renewal, remote logs, and destroyEngine.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join as pathJoin } from "node:path";
import { after, before, test } from "node:test";

import { DuetEngine, SdkError } from "../dist/index.js";
import { Duet } from "./harness/duet.mjs";
import { network } from "./harness/wx.mjs";
import { record, sleep, waitFor } from "./harness/wait.mjs";

const EVENTS = [
  "roomStateUpdate",
  "roomStateChanged",
  "roomUserUpdate",
  "roomOnlineUserCountUpdate",
  "roomStreamUpdate",
  "roomExtraInfoUpdate",
  "streamExtraInfoUpdate",
  "IMRecvBroadcastMessage",
  "IMRecvBarrageMessage",
  "IMRecvCustomCommand",
  "publisherStateUpdate",
  "tokenWillExpire",
];

let duet;
const engines = [];

before(async () => {
  duet = await Duet.start(["--heartbeat-secs", "1"]);
});

after(async () => {
  for (const e of engines) e.destroyEngine();
  if (duet) await duet.stop();
});

/** An engine (quiet) with its events recorded; `tag` marks its socket URL for network.down(tag). */
function engine(server = duet.server, tag = "") {
  const zg = new DuetEngine(duet.appID, Array.isArray(server) ? server : `${server}${tag ? `?who=${tag}` : ""}`);
  zg.setDebugVerbose(false);
  engines.push(zg);
  return { zg, events: record(zg, EVENTS) };
}

async function join(roomID, userID, { userUpdate = true, tag = "", server } = {}) {
  const e = engine(server, tag);
  assert.equal(await e.zg.loginRoom(roomID, await duet.token(userID), { userID, userName: `${userID} name` }, { userUpdate }), true);
  return e;
}

const named = (events, name) => events.filter((e) => e[0] === name);
const has = (events, name, pred = () => true) => events.some((e) => e[0] === name && pred(e));

test("room events and messages flow between two users", async () => {
  const a = await join("msgs", "alice");
  const b = await join("msgs", "bob");
  await waitFor(() => has(a.events, "roomUserUpdate", (e) => e[2] === "ADD" && e[3][0].userID === "bob"), { what: "alice to see bob" });
  assert.ok(has(b.events, "roomUserUpdate", (e) => e[2] === "ADD" && e[3][0].userID === "alice"), "bob's snapshot lists alice");
  assert.deepEqual(named(b.events, "roomStateUpdate").map((e) => e[2]), ["CONNECTING", "CONNECTED"]);
  assert.deepEqual(named(b.events, "roomStateChanged").map((e) => e[2]), ["LOGINING", "LOGINED"]);
  await waitFor(() => has(a.events, "roomOnlineUserCountUpdate", (e) => e[2] === 2), { what: "an online count of 2" });

  const sent = await b.zg.sendBroadcastMessage("msgs", "hello room");
  assert.equal(sent.errorCode, 0);
  assert.equal(typeof sent.messageID, "number");
  assert.equal((await b.zg.sendBarrageMessage("msgs", "woo")).errorCode, 0);
  assert.deepEqual(await b.zg.sendCustomCommand("msgs", "ring", ["alice"]), { errorCode: 0 });
  assert.deepEqual(await b.zg.setRoomExtraInfo("msgs", "topic", "tests"), { errorCode: 0 });
  await waitFor(() => has(a.events, "roomExtraInfoUpdate"), { what: "room extra info at alice" });
  const [, , [msg]] = named(a.events, "IMRecvBroadcastMessage")[0];
  assert.equal(msg.message, "hello room");
  assert.equal(msg.messageID, sent.messageID);
  assert.equal(msg.fromUser.userID, "bob");
  assert.equal(msg.fromUser.userName, "bob name");
  assert.equal(named(a.events, "IMRecvBarrageMessage")[0][2][0].message, "woo");
  assert.deepEqual(named(a.events, "IMRecvCustomCommand")[0].slice(1), ["msgs", { userID: "bob", userName: "bob name" }, "ring"]);
  const [, , [info]] = named(a.events, "roomExtraInfoUpdate")[0];
  assert.deepEqual([info.key, info.value, info.updateUser.userID], ["topic", "tests", "bob"]);
  assert.equal(named(b.events, "IMRecvBroadcastMessage").length, 0, "a sender does not hear itself");

  // Publishing without media: the reservation is made, PUBLISHING waits for the stream itself.
  const { url } = await b.zg.startPublishingStream("bob-cam", { extraInfo: "front" });
  assert.match(url, new RegExp(`^rtmp://${duet.rtmp}/${duet.appID}/bob-cam\\?`));
  await waitFor(() => has(b.events, "publisherStateUpdate", (e) => e[1].state === "PUBLISH_REQUESTING"), { what: "PUBLISH_REQUESTING" });
  assert.equal(b.zg.getNextUrl("bob-cam"), url, "one server: the fallback list holds one address");
  assert.deepEqual(await b.zg.setStreamExtraInfo("bob-cam", "back"), { errorCode: 0 });
  await assert.rejects(a.zg.startPublishingStream("bob-cam"), (e) => e.code === 40303, "another user's streamID");
  const play = await a.zg.startPlayingStream("bob-cam", { sourceType: "CDN" });
  assert.match(play.url, new RegExp(`^${duet.http}/live/${duet.appID}/bob-cam\\.flv\\?`));
  assert.equal(b.zg.stopPublishingStream("bob-cam"), true);

  b.zg.logoutRoom("msgs");
  assert.deepEqual(named(b.events, "roomStateChanged").slice(-1)[0].slice(1), ["msgs", "LOGOUT", 0, ""]);
  await waitFor(() => has(a.events, "roomUserUpdate", (e) => e[2] === "DELETE" && e[3][0].userID === "bob"), { what: "bob's leave at alice" });
  a.zg.logoutRoom();
});

test("a refused login rejects with the server's code and says LOGIN_FAILED", async () => {
  const e = engine();
  const token = await duet.token("someone-else");
  await assert.rejects(e.zg.loginRoom("r", token, { userID: "me" }), (err) => err.code === 40105 && /another userID|user/i.test(err.msg));
  assert.deepEqual(named(e.events, "roomStateChanged").map((x) => [x[2], x[3]]), [
    ["LOGINING", 0],
    ["LOGIN_FAILED", 40105],
  ]);
  await assert.rejects(e.zg.loginRoom("r", "04garbage", { userID: "me" }), (err) => err.code === 40101);
});

test("logging in elsewhere kicks the first session out, which does not reconnect", async () => {
  const first = await join("kick", "kim");
  const second = await join("kick", "kim");
  await waitFor(() => has(first.events, "roomStateChanged", (e) => e[2] === "KICKOUT"), { what: "KICKOUT" });
  const kicked = named(first.events, "roomStateChanged").slice(-1)[0];
  assert.deepEqual(kicked.slice(1, 4), ["kick", "KICKOUT", 41000]);
  assert.deepEqual(named(first.events, "roomStateUpdate").slice(-1)[0].slice(1, 4), ["kick", "DISCONNECTED", 41000]);
  await sleep(1500);
  assert.ok(!first.events.slice(first.events.indexOf(kicked)).some((e) => e[2] === "CONNECTING"), "no reconnect after a kick-out");
  assert.deepEqual((await first.zg.sendBroadcastMessage("kick", "x")).errorCode, SdkError.NOT_LOGGED_IN);
  assert.equal((await second.zg.sendBroadcastMessage("kick", "still here")).errorCode, 0);
  second.zg.logoutRoom();
});

test("a dropped connection resumes the session and replays what was missed", async () => {
  const a = await join("resume", "ann", { tag: "ann" });
  const b = await join("resume", "ben");
  await waitFor(() => has(a.events, "roomUserUpdate", (e) => e[3][0].userID === "ben"), { what: "ann to see ben" });
  const mark = a.events.length;

  network.down("?who=ann");
  await waitFor(() => has(a.events.slice(mark), "roomStateChanged", (e) => e[2] === "RECONNECTING"), { what: "RECONNECTING" });
  assert.ok(has(a.events.slice(mark), "roomStateUpdate", (e) => e[2] === "CONNECTING"));
  // While ann is away: a message, and a new member.
  assert.equal((await b.zg.sendBroadcastMessage("resume", "while you were out")).errorCode, 0);
  const c = await join("resume", "cat");
  await sleep(300);
  network.up("?who=ann");

  await waitFor(() => has(a.events.slice(mark), "roomStateChanged", (e) => e[2] === "RECONNECTED"), { what: "RECONNECTED" });
  await waitFor(() => has(a.events.slice(mark), "IMRecvBroadcastMessage"), { what: "the missed message" });
  await waitFor(() => has(a.events.slice(mark), "roomUserUpdate", (e) => e[2] === "ADD" && e[3][0].userID === "cat"), { what: "cat's arrival" });
  assert.equal(named(a.events.slice(mark), "IMRecvBroadcastMessage")[0][2][0].message, "while you were out");
  assert.ok(!has(b.events, "roomUserUpdate", (e) => e[2] === "DELETE"), "ben never saw ann leave");
  assert.equal((await a.zg.sendBroadcastMessage("resume", "back")).errorCode, 0);
  await waitFor(() => has(c.events, "IMRecvBroadcastMessage", (e) => e[2][0].message === "back"), { what: "cat to hear ann" });
  for (const e of [a, b, c]) e.zg.logoutRoom();
});

test("after the grace period the SDK logs in again and reports the difference", async () => {
  const short = await Duet.start(["--resume-grace-secs", "1", "--heartbeat-secs", "1"]);
  try {
    const token = (u) => short.token(u);
    const mk = async (userID, tag) => {
      const zg = new DuetEngine(short.appID, `${short.server}${tag ? `?who=${tag}` : ""}`);
      zg.setDebugVerbose(false);
      engines.push(zg);
      const events = record(zg, EVENTS);
      await zg.loginRoom("grace", await token(userID), { userID }, { userUpdate: true });
      return { zg, events };
    };
    const a = await mk("ava", "ava");
    const b = await mk("bo");
    await waitFor(() => has(a.events, "roomUserUpdate", (e) => e[3][0].userID === "bo"), { what: "ava to see bo" });
    const mark = a.events.length;
    network.down("?who=ava");
    await waitFor(() => has(b.events, "roomUserUpdate", (e) => e[2] === "DELETE" && e[3][0].userID === "ava"), { what: "the grace to end" });
    b.zg.logoutRoom();
    const c = await mk("cy");
    network.up("?who=ava");
    await waitFor(() => has(a.events.slice(mark), "roomStateChanged", (e) => e[2] === "RECONNECTED"), { what: "RECONNECTED", timeout: 20000 });
    const users = named(a.events.slice(mark), "roomUserUpdate").map((e) => `${e[2]} ${e[3].map((u) => u.userID).join(",")}`);
    assert.deepEqual(users.sort(), ["ADD cy", "DELETE bo"]);
    await waitFor(() => has(c.events, "roomUserUpdate", (e) => e[2] === "ADD" && e[3][0].userID === "ava"), { what: "cy to see ava return" });
    a.zg.logoutRoom();
    c.zg.logoutRoom();
  } finally {
    await short.stop();
  }
});

test("the next server in the list is tried when one is down", async () => {
  const e = engine(["ws://127.0.0.1:9/ws", duet.server]);
  assert.equal(await e.zg.loginRoom("fallback", await duet.token("fay"), { userID: "fay" }), true);
  e.zg.logoutRoom();
});

test("tokenWillExpire arrives before expiry and renewToken reaches the server", async () => {
  const e = engine();
  const logs = [];
  const log = console.log;
  console.log = (...a) => logs.push(a.join(" "));
  e.zg.setDebugVerbose(true);
  try {
    assert.equal(await e.zg.loginRoom("renew", await duet.token("rita", { ttl: 32 }), { userID: "rita" }), true);
    await waitFor(() => has(e.events, "tokenWillExpire"), { what: "tokenWillExpire", timeout: 10000 });
    assert.deepEqual(named(e.events, "tokenWillExpire")[0].slice(1), ["renew"]);
    assert.equal(e.zg.renewToken(await duet.token("rita")), true);
    await waitFor(() => logs.some((l) => l.includes("token renewed")), { what: "the server to accept the new token" });
  } finally {
    console.log = log;
  }
  e.zg.logoutRoom();
});

test("remote logs reach POST /httplog and are stored per app", async () => {
  const e = engine();
  assert.equal(e.zg.setLogConfig({ logLevel: "warn", remoteLogLevel: "info" }), true);
  assert.equal(e.zg.setLogConfig({ remoteLogLevel: "loud" }), false);
  await e.zg.loginRoom("logs", await duet.token("lou"), { userID: "lou" });
  e.zg.destroyEngine();
  const dir = pathJoin(duet.data, "logs", String(duet.appID));
  const lines = await waitFor(
    () => {
      try {
        return readdirSync(dir).flatMap((f) => readFileSync(pathJoin(dir, f), "utf8").trim().split("\n").map((l) => JSON.parse(l)));
      } catch {
        return undefined;
      }
    },
    { what: "uploaded logs" },
  );
  const line = lines.find((l) => l.message.includes("logged into room logs as lou"));
  assert.ok(line, JSON.stringify(lines));
  assert.equal(line.level, "info");
  assert.equal(line.userID, "lou");
  assert.match(String(line.sessionID), /^\d+$/, "stored under the session whose logToken it carried");
});

test("destroyEngine logs out at once: others see the user leave without waiting for the grace", async () => {
  const a = await join("bye", "abe");
  const b = await join("bye", "bea", { tag: "bea" });
  await waitFor(() => has(a.events, "roomUserUpdate", (e) => e[3][0].userID === "bea"), { what: "abe to see bea" });
  b.zg.destroyEngine();
  await waitFor(() => has(a.events, "roomUserUpdate", (e) => e[2] === "DELETE"), { what: "bea's leave", timeout: 5000 });
  await waitFor(() => network.openSockets("?who=bea") === 0, { what: "bea's socket to close" });
  assert.equal(b.zg.on("roomStateUpdate", () => {}), true, "on() after destroy is harmless");
  a.zg.logoutRoom();
});

test("with enableMultiRoom one engine is in several rooms on one connection", async () => {
  const e = engine(duet.server, "multi");
  assert.equal(e.zg.enableMultiRoom(true), true);
  const token = await duet.token("max");
  assert.equal(await e.zg.loginRoom("m1", token, { userID: "max" }), true);
  assert.equal(e.zg.enableMultiRoom(false), false, "too late once logged in");
  assert.equal(await e.zg.loginRoom("m2", token, { userID: "max" }), true);
  assert.equal(network.openSockets("?who=multi"), 1);
  const other = await join("m2", "mia");
  assert.equal((await other.zg.sendBroadcastMessage("m2", "to m2")).errorCode, 0);
  await waitFor(() => has(e.events, "IMRecvBroadcastMessage", (x) => x[1] === "m2"), { what: "the message in m2" });
  assert.equal((await e.zg.sendBroadcastMessage("m1", "in m1")).errorCode, 0);
  e.zg.logoutRoom("m1");
  assert.equal((await e.zg.sendBroadcastMessage("m2", "still in m2")).errorCode, 0);
  e.zg.logoutRoom();
  other.zg.logoutRoom();
  await waitFor(() => network.openSockets("?who=multi") === 0, { what: "the socket to close after the last room" });
});

test("logging out of one room and into another on the same engine works", async () => {
  const e = engine(duet.server, "switch");
  const token = await duet.token("sam");
  assert.equal(await e.zg.loginRoom("s1", token, { userID: "sam" }), true);
  e.zg.logoutRoom("s1");
  assert.equal(await e.zg.loginRoom("s2", token, { userID: "sam" }), true, "the logout's close must not cancel the new login");
  assert.equal((await e.zg.sendBroadcastMessage("s2", "here")).errorCode, 0);
  await assert.rejects(e.zg.loginRoom("s2", token, { userID: "sam" }), (err) => err.code === 40301, "already in it");
  e.zg.logoutRoom();
  await waitFor(() => network.openSockets("?who=switch") === 0, { what: "the socket to close" });
});

test("a session taken over by another device while away ends with KICKOUT, without logging in again", async () => {
  const away = await join("takeover", "tom", { tag: "tom-phone" });
  network.down("?who=tom-phone");
  await waitFor(() => has(away.events, "roomStateChanged", (e) => e[2] === "RECONNECTING"), { what: "RECONNECTING" });
  const other = await join("takeover", "tom", { tag: "tom-tablet" });
  network.up("?who=tom-phone");
  await waitFor(() => has(away.events, "roomStateChanged", (e) => e[2] === "KICKOUT"), { what: "KICKOUT on resume" });
  assert.deepEqual(named(away.events, "roomStateChanged").slice(-1)[0].slice(1, 4), ["takeover", "KICKOUT", 41000]);
  await sleep(500);
  assert.ok(!has(other.events, "roomStateChanged", (e) => e[2] === "KICKOUT"), "the device that took over stays in");
  assert.equal((await other.zg.sendBroadcastMessage("takeover", "still mine")).errorCode, 0);
  await waitFor(() => network.openSockets("?who=tom-phone") === 0, { what: "the kicked device's socket to close" });
  other.zg.logoutRoom();
});

test("logging out while reconnecting stops reconnecting and leaves no socket open", async () => {
  const e = await join("giveup", "gil", { tag: "gil" });
  network.down("?who=gil");
  await waitFor(() => has(e.events, "roomStateChanged", (x) => x[2] === "RECONNECTING"), { what: "RECONNECTING" });
  e.zg.logoutRoom();
  network.up("?who=gil");
  await sleep(1500);
  assert.equal(network.openSockets("?who=gil"), 0);
  assert.ok(!has(e.events, "roomStateChanged", (x) => x[2] === "RECONNECTED"));
});

test("what the page asked for while disconnected is sent once the session is back", async () => {
  const a = engine(duet.server, "away");
  assert.equal(a.zg.enableMultiRoom(true), true);
  const token = await duet.token("wes");
  await a.zg.loginRoom("w1", token, { userID: "wes" }, { userUpdate: true });
  await a.zg.loginRoom("w2", token, { userID: "wes" }, { userUpdate: true });
  await a.zg.startPublishingStream("wes-cam", { roomID: "w1" });
  const b = await join("w2", "bel");
  network.down("?who=away");
  await waitFor(() => has(a.events, "roomStateChanged", (e) => e[2] === "RECONNECTING"), { what: "RECONNECTING" });
  assert.equal(a.zg.stopPublishingStream("wes-cam"), true);
  a.zg.logoutRoom("w2");
  network.up("?who=away");
  await waitFor(() => has(a.events, "roomStateChanged", (e) => e[1] === "w1" && e[2] === "RECONNECTED"), { what: "RECONNECTED in w1" });
  // The logout of w2 reached the server: bel sees wes leave now, not after the grace period.
  await waitFor(() => has(b.events, "roomUserUpdate", (e) => e[2] === "DELETE" && e[3][0].userID === "wes"), { what: "wes leaving w2", timeout: 5000 });
  // The stopped stream's name is free again.
  const c = await join("w1", "cid");
  await waitFor(async () => {
    try {
      await c.zg.startPublishingStream("wes-cam");
      return true;
    } catch (e) {
      return e.code === 40303 ? false : Promise.reject(e);
    }
  }, { what: "wes-cam to be released", timeout: 5000 });
  for (const e of [a, b, c]) e.zg.logoutRoom();
});

test("a stream stopped and published again while disconnected is published after the resume", async () => {
  const a = await join("again", "ivy", { tag: "ivy" });
  await a.zg.startPublishingStream("ivy-cam");
  await waitFor(() => has(a.events, "publisherStateUpdate", (e) => e[1].state === "PUBLISH_REQUESTING"), { what: "PUBLISH_REQUESTING" });
  network.down("?who=ivy");
  await waitFor(() => has(a.events, "roomStateChanged", (e) => e[2] === "RECONNECTING"), { what: "RECONNECTING" });
  assert.equal(a.zg.stopPublishingStream("ivy-cam"), true);
  const again = a.zg.startPublishingStream("ivy-cam");
  again.catch(() => {}); // awaited below, after the network is back
  const mark = a.events.length;
  network.up("?who=ivy");
  await waitFor(() => has(a.events.slice(mark), "roomStateChanged", (e) => e[2] === "RECONNECTED"), { what: "RECONNECTED" });
  const { url } = await again;
  assert.match(url, new RegExp(`^rtmp://${duet.rtmp}/${duet.appID}/ivy-cam\\?`));
  await sleep(500); // time for a stopPublish sent by the resume to take effect
  // The server still has ivy-cam reserved by ivy: another user cannot take it.
  const other = await join("again", "jay");
  await assert.rejects(other.zg.startPublishingStream("ivy-cam"), (e) => e.code === 40303, "ivy-cam is still ivy's");
  const states = named(a.events.slice(mark), "publisherStateUpdate").map((e) => e[1].state);
  assert.notEqual(states[states.length - 1], "NO_PUBLISH", `publisher states after the resume: ${states.join(", ")}`);
  assert.equal(a.zg.getNextUrl("ivy-cam"), url, "the SDK publishes ivy-cam again");
  for (const e of [a, other]) e.zg.logoutRoom();
});

test("addPublishCdnUrl and removePublishCdnUrl reach the server", async () => {
  const e = await join("relay", "ray");
  await e.zg.startPublishingStream("ray-cam");
  const ok = await e.zg.addPublishCdnUrl("ray-cam", "rtmp://127.0.0.1:9/live/elsewhere");
  assert.deepEqual(ok, { errorCode: 0 });
  assert.equal((await e.zg.addPublishCdnUrl("not-mine", "rtmp://127.0.0.1:9/live/x")).errorCode, 40304);
  assert.equal((await e.zg.addPublishCdnUrl("ray-cam", "http://example.com/x")).errorCode, SdkError.INVALID_ARGUMENT);
  for (let i = 0; i < 3; i++) await e.zg.addPublishCdnUrl("ray-cam", `rtmp://127.0.0.1:9/live/s${i}`);
  assert.equal((await e.zg.addPublishCdnUrl("ray-cam", "rtmp://127.0.0.1:9/live/s9")).errorCode, 40308, "four at most");
  assert.deepEqual(await e.zg.removePublishCdnUrl("ray-cam", "rtmp://127.0.0.1:9/live/elsewhere"), { errorCode: 0 });
  assert.deepEqual(await e.zg.addPublishCdnUrl("ray-cam", "rtmp://127.0.0.1:9/live/s9"), { errorCode: 0 }, "a slot is free again");
  e.zg.logoutRoom();
});
