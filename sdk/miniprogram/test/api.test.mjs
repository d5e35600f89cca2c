// The engine's API contract without a server: argument checks, event names, exports.
import assert from "node:assert/strict";
import { test } from "node:test";

import "./harness/wx.mjs";
import * as sdk from "../dist/index.js";
import { logURLFor } from "../dist/core/logger.js";

const { DuetEngine, ZegoExpressEngine, SdkError } = sdk;

test("the engine is exported under both names", () => {
  assert.equal(ZegoExpressEngine, DuetEngine);
  assert.equal(typeof new ZegoExpressEngine(1, "ws://127.0.0.1:9/ws").getVersion(), "string");
});

test("a bad appID or server throws a clear error", () => {
  for (const appID of ["123", 0, -1, 1.5, 2 ** 32, undefined]) {
    assert.throws(() => new DuetEngine(appID, "wss://x/ws"), /appID must be/, String(appID));
  }
  for (const server of ["", [], [""], undefined]) {
    assert.throws(() => new DuetEngine(1, server), /server must be/, JSON.stringify(server));
  }
  assert.throws(() => new DuetEngine(1, "https://x/ws"), /not a ws:\/\/ or wss:\/\/ address/);
});

test("on/off accept the documented events only", () => {
  const zg = new DuetEngine(1, "ws://127.0.0.1:9/ws");
  const warn = console.warn;
  const warnings = [];
  console.warn = (...a) => warnings.push(a.join(" "));
  try {
    assert.equal(zg.on("roomStreamUpdate", () => {}), true);
    assert.equal(zg.on("roomStreamUpdated", () => {}), false);
    assert.equal(zg.on("roomStateUpdate", "not a function"), false);
    assert.equal(zg.off("roomStreamUpdate"), true);
    assert.equal(zg.off("nope"), false);
  } finally {
    console.warn = warn;
  }
  assert.equal(warnings.length, 3, warnings.join("\n"));
  zg.destroyEngine();
});

test("bad arguments reject with INVALID_ARGUMENT before touching the network", async () => {
  const zg = new DuetEngine(1, "ws://127.0.0.1:9/ws");
  zg.setDebugVerbose(false);
  const calls = [
    () => zg.loginRoom("", "04x", { userID: "u" }),
    () => zg.loginRoom("r", "", { userID: "u" }),
    () => zg.loginRoom("r", "04x", {}),
    () => zg.loginRoom("r", "04x", null),
    () => zg.startPublishingStream("bad id!"),
    () => zg.startPublishingStream("x".repeat(257)),
    () => zg.startPlayingStream(""),
  ];
  for (const call of calls) {
    await assert.rejects(call(), (e) => e.code === SdkError.INVALID_ARGUMENT && typeof e.msg === "string", call.toString());
  }
  await assert.rejects(zg.startPublishingStream("ok_id-1"), (e) => e.code === SdkError.NOT_LOGGED_IN);
  assert.deepEqual(await zg.sendBroadcastMessage("r", "hi"), { errorCode: SdkError.NOT_LOGGED_IN, extendedData: "not in room r" });
  assert.equal(zg.renewToken("04x"), false, "no room to renew");
  assert.equal(zg.getNextUrl("nothing"), "");
  assert.equal(zg.stopPublishingStream("nothing"), false);
  zg.destroyEngine();
  await assert.rejects(zg.loginRoom("r", "04x", { userID: "u" }), (e) => e.code === SdkError.DESTROYED);
});

test("an unreachable server rejects the login with NETWORK_UNREACHABLE", async () => {
  const zg = new DuetEngine(1, ["ws://127.0.0.1:9/ws", "ws://127.0.0.1:10/ws"]);
  zg.setDebugVerbose(false);
  const states = [];
  zg.on("roomStateChanged", (roomID, reason, code) => states.push([roomID, reason, code]));
  await assert.rejects(zg.loginRoom("r", "04x", { userID: "u" }), (e) => e.code === SdkError.NETWORK_UNREACHABLE);
  assert.deepEqual(states, [
    ["r", "LOGINING", 0],
    ["r", "LOGIN_FAILED", SdkError.NETWORK_UNREACHABLE],
  ]);
  zg.destroyEngine();
});

test("component-mode APIs need initContext and keep the page's data", () => {
  const zg = new DuetEngine(1, "ws://127.0.0.1:9/ws");
  zg.setDebugVerbose(false);
  assert.equal(zg.createPusher(), null);
  assert.equal(zg.getPlayerInstance("s1"), null);
  const page = { data: {}, setData(patch) { Object.assign(this.data, patch); } };
  zg.initContext({ wxContext: page, pushAtr: "pusher", playAtr: "players" });
  assert.deepEqual(page.data, { pusher: {}, players: [] });
  const pusher = zg.createPusher({ enableCamera: false, minBitrate: 300 });
  assert.equal(page.data.pusher.enableCamera, false);
  assert.equal(page.data.pusher.minBitrate, 300);
  assert.equal(page.data.pusher.url, "", "no URL before start()");
  assert.equal(zg.getPusherInstance(), pusher);
  zg.mutePublishStreamAudio(true);
  assert.equal(page.data.pusher.enableMic, false);
  assert.equal(zg.setPusherAttributes({ url: "rtmp://evil", beautyLevel: 5 }), true);
  assert.equal(page.data.pusher.url, "", "the URL is the SDK's to set");
  assert.equal(page.data.pusher.beautyLevel, 5);
  const player = zg.getPlayerInstance("s1");
  assert.equal(zg.getPlayerInstance("s1"), player, "one player per stream");
  assert.deepEqual(page.data.players, [], "a player joins the list when it plays");
  assert.deepEqual(zg.getPlayerList(), []);
  zg.destroyEngine();
});

test("checkSystemRequirements reads the base library version", async () => {
  const zg = new DuetEngine(1, "ws://127.0.0.1:9/ws");
  const r = await zg.checkSystemRequirements();
  assert.equal(r.result, true);
  assert.equal(r.SDKVersion, "3.3.4");
  zg.destroyEngine();
});

test("the log upload address follows the server address", () => {
  assert.equal(logURLFor("wss://rtc.example.com/ws"), "https://rtc.example.com/httplog");
  assert.equal(logURLFor("ws://127.0.0.1:8080/ws"), "http://127.0.0.1:8080/httplog");
  assert.equal(logURLFor("nonsense"), "");
});
