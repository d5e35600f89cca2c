// What the SDK reports of call quality (`reportQuality`, core/quality_report.ts) against a
// scripted server: the figures <live-pusher>/<live-player> bindnetstatus gave, the reconnects
// and stalls their state changes mean, one report per room, nothing when nothing was measured.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import "./harness/wx.mjs";
import { DuetEngine } from "../dist/index.js";
import { ok, startFakeServer } from "./harness/fake-server.mjs";
import { waitFor } from "./harness/wait.mjs";

let server;
let zg;

before(async () => {
  server = await startFakeServer();
  server.answer("publish", (data) => ok({ streamID: data.streamID, url: `rtmp://127.0.0.1:1935/live/${data.streamID}` }));
  server.answer("play", (data) => ok({ streamID: data.streamID, url: `rtmp://127.0.0.1:1935/live/${data.streamID}`, live: true }));
  server.answer("reportQuality", () => ok({}));
  // The room announces bob's stream at login.
  server.answer("login", (data) =>
    ok({
      roomID: data.roomID,
      seq: 0,
      users: [{ userID: "bob", userName: "bob" }],
      streams: [{ streamID: "bob-cam", user: { userID: "bob", userName: "bob" }, extraInfo: "", urlsRTMP: ["rtmp://127.0.0.1:1935/live/bob-cam"] }],
      extraInfo: [],
      onlineCount: 2,
      sessionID: "1",
      resumeToken: "resume-token",
      tokenExpire: Math.floor(Date.now() / 1000) + 3600,
      heartbeatMs: 10000,
    }),
  );
  zg = new DuetEngine(1, server.url);
  zg.setDebugVerbose(false);
  assert.equal(await zg.loginRoom("call", "04token", { userID: "alice" }), true);
});

after(async () => {
  if (zg) zg.destroyEngine();
  if (server) await server.close();
});

const reports = () => server.frames.filter((f) => f.op === "reportQuality");
const net = (info) => ({ detail: { info } });

test("nothing measured, nothing sent", async () => {
  await zg.core.quality.report();
  assert.deepEqual(reports(), []);
});

test("a report holds the last measured quality of each stream, with reconnects and stalls, once", async () => {
  await zg.startPublishingStream("alice-cam");
  server.push("publisherStateUpdate", { streamID: "alice-cam", state: "PUBLISHING" });
  await waitFor(() => zg.core.presence.streams.publishing.get("alice-cam")?.state === "PUBLISHING", { what: "PUBLISHING" });
  zg.updatePlayerNetStatus("alice-cam", net({ videoBitrate: 700, audioBitrate: 48, videoFPS: 15, videoWidth: 640, videoHeight: 360 }));
  zg.updatePlayerNetStatus("alice-cam", net({ videoBitrate: 805, audioBitrate: 48, videoFPS: 15, videoWidth: 640, videoHeight: 360 }));
  zg.updatePlayerState("alice-cam", { detail: { code: 1102 } }); // the push reconnects
  await zg.startPlayingStream("bob-cam");
  zg.updatePlayerState("bob-cam", { detail: { code: 2004 } }); // playing
  zg.updatePlayerNetStatus("bob-cam", net({ videoBitrate: 790, audioBitrate: 32, videoFPS: 14, videoWidth: 640, videoHeight: 360, videoCache: 120 }));
  zg.updatePlayerState("bob-cam", { detail: { code: 2103 } }); // reconnecting: a stall
  zg.updatePlayerState("bob-cam", { detail: { code: 2004 } });

  await zg.core.quality.report();
  const [r] = reports();
  assert.equal(r.data.roomID, "call");
  const by = Object.fromEntries(r.data.streams.map((s) => [s.streamID, s]));
  assert.deepEqual(by["alice-cam"], { streamID: "alice-cam", role: "publish", videoKbps: 805, audioKbps: 48, fps: 15, width: 640, height: 360, stalls: 0, reconnects: 1 });
  assert.deepEqual(by["bob-cam"], { streamID: "bob-cam", role: "play", videoKbps: 790, audioKbps: 32, fps: 14, width: 640, height: 360, stalls: 1, reconnects: 0, cacheMs: 120 });

  // Nothing new: nothing sent; a new measurement: only that stream, counts reset.
  await zg.core.quality.report();
  assert.equal(reports().length, 1);
  zg.updatePlayerNetStatus("bob-cam", net({ videoBitrate: 500, videoFPS: 10 }));
  await zg.core.quality.report();
  assert.equal(reports().length, 2);
  assert.deepEqual(reports()[1].data.streams.map((s) => [s.streamID, s.videoKbps, s.stalls]), [["bob-cam", 500, 0]]);
});

test("hostile figures from the platform are clamped to what the server takes", async () => {
  zg.updatePlayerNetStatus("bob-cam", net({ videoBitrate: Infinity, videoFPS: -3, videoWidth: 1e9, audioBitrate: "x" }));
  await zg.core.quality.report();
  const s = reports().at(-1).data.streams.find((x) => x.streamID === "bob-cam");
  assert.deepEqual([s.videoKbps, s.fps, s.width, s.audioKbps], [0, 0, 16384, 0]);
});
