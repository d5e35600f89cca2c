// startMixerTask / stopMixerTask against a scripted server (harness/fake-server.mjs): the frame
// each sends, how replies and refusals become `{errorCode, extendedData}`, and what is refused
// before anything is sent (bad arguments, no login, no connection).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { network } from "./harness/wx.mjs";
import { DuetEngine, SdkError } from "../dist/index.js";
import { ServerError } from "../dist/core/protocol.js";
import { ok, refuse, startFakeServer } from "./harness/fake-server.mjs";
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

function engine(tag = "") {
  const zg = new DuetEngine(1, `${server.url}${tag ? `?who=${tag}` : ""}`);
  zg.setDebugVerbose(false);
  engines.push(zg);
  return zg;
}

async function loggedIn(roomID, tag = "") {
  const zg = engine(tag);
  assert.equal(await zg.loginRoom(roomID, "04token", { userID: `user-${roomID}` }), true);
  return zg;
}

/** The frames sent from `mark` on, heartbeats left out. */
const sentSince = (mark) => server.frames.slice(mark).filter((f) => f.op !== "ping");

const CONFIG = {
  taskID: "class-1-mix",
  inputList: [
    { streamID: "teacher", layout: { top: 0, left: 0, bottom: 360, right: 320 } },
    { streamID: "student", contentType: "VIDEO", layout: { top: 0, left: 320, bottom: 360, right: 640 }, renderMode: 1, imageInfo: { url: "https://example.com/away.png" } },
  ],
  outputList: [{ target: "class-1-mixed" }, { target: "rtmp://cdn.example.com/live/x", videoConfig: { videoCodec: "H264" } }],
  outputConfig: { outputBitrate: 800, outputFPS: 15, outputWidth: 640, outputHeight: 360, outputAudioBitrate: 48, outputAudioChannels: 1, outputBgColor: 0x202020 },
};

test("before a login both resolve NOT_LOGGED_IN and nothing is sent", async () => {
  const zg = engine();
  const mark = server.frames.length;
  assert.deepEqual(await zg.startMixerTask(CONFIG), { errorCode: SdkError.NOT_LOGGED_IN, extendedData: "log into a room first" });
  assert.deepEqual(await zg.startMixerTask({ ...CONFIG, roomID: "class-1" }), { errorCode: SdkError.NOT_LOGGED_IN, extendedData: "not in room class-1" });
  assert.deepEqual(await zg.stopMixerTask("class-1-mix"), { errorCode: SdkError.NOT_LOGGED_IN, extendedData: "log into a room first" });
  assert.deepEqual(sentSince(mark), []);
  assert.equal(server.clients(), 0, "no connection was opened");
});

test("a start sends the config as given and resolves with the reply as JSON; a stop sends the taskID", async () => {
  const zg = await loggedIn("class-1");
  const reply = { taskID: "class-1-mix", outputList: [{ streamID: "class-1-mixed" }, { url: "rtmp://cdn.example.com/live/x" }] };
  server.answer("startMixerTask", () => ok(reply));
  server.answer("stopMixerTask", () => ok({}));

  let mark = server.frames.length;
  assert.deepEqual(await zg.startMixerTask(CONFIG), { errorCode: 0, extendedData: JSON.stringify(reply) });
  let [frame] = sentSince(mark);
  assert.equal(frame.op, "startMixerTask");
  assert.equal(typeof frame.id, "number");
  assert.deepEqual(frame.data, CONFIG);
  assert.deepEqual(JSON.parse((await zg.startMixerTask(CONFIG)).extendedData), reply, "extendedData parses back to the reply");

  // The Web SDK's plain-string outputs and Duet's roomID go as they are.
  const web = { taskID: "t2", roomID: "class-1", inputList: [{ streamID: "a" }], outputList: ["mixed", "rtmp://cdn.example.com/live/y"] };
  mark = server.frames.length;
  assert.equal((await zg.startMixerTask(web)).errorCode, 0);
  [frame] = sentSince(mark);
  assert.deepEqual([frame.op, frame.data], ["startMixerTask", web]);

  mark = server.frames.length;
  assert.deepEqual(await zg.stopMixerTask("class-1-mix"), { errorCode: 0 });
  assert.deepEqual(sentSince(mark).map((f) => [f.op, f.data]), [["stopMixerTask", { taskID: "class-1-mix" }]]);
  zg.logoutRoom();
});

test("a refusal resolves with the server's code and message", async () => {
  const zg = await loggedIn("class-2");
  const cases = [
    ["startMixerTask", ServerError.mixer_task_limit, "mixer_task_limit", "the app runs 4 mixer tasks"],
    ["startMixerTask", ServerError.mixer_unavailable, "mixer_unavailable", "ffmpeg not found"],
    ["startMixerTask", ServerError.stream_taken, "stream_taken", "mixed is being published by someone else"],
    ["startMixerTask", ServerError.invalid_field, "invalid_field", "outputConfig.outputWidth: must be even"],
    ["startMixerTask", ServerError.token_publish_denied, "token_publish_denied", "no publish privilege"],
    ["stopMixerTask", ServerError.mixer_task_not_found, "mixer_task_not_found", "no mixer task class-1-mix"],
  ];
  assert.deepEqual(
    cases.map(([, code]) => code),
    [40310, 50001, 40303, 40002, 40108, 40403],
  );
  for (const [op, code, reason, message] of cases) {
    server.answer(op, () => refuse(code, reason, message));
    const result = op === "startMixerTask" ? await zg.startMixerTask(CONFIG) : await zg.stopMixerTask("class-1-mix");
    assert.deepEqual(result, { errorCode: code, extendedData: message }, reason);
  }
  zg.logoutRoom();
});

test("bad arguments resolve INVALID_ARGUMENT without a frame", async () => {
  const zg = await loggedIn("class-3");
  const mark = server.frames.length;
  for (const config of [undefined, null, "class-1-mix", 7, [], {}, { taskID: "" }, { taskID: 5 }, { ...CONFIG, taskID: undefined }]) {
    const r = await zg.startMixerTask(config);
    assert.equal(r.errorCode, SdkError.INVALID_ARGUMENT, JSON.stringify(config));
    assert.match(r.extendedData, /taskID/);
  }
  assert.deepEqual(await zg.startMixerTask({ ...CONFIG, roomID: 5 }), {
    errorCode: SdkError.INVALID_ARGUMENT,
    extendedData: "config.roomID must be a non-empty string when given",
  });
  for (const taskID of [undefined, null, "", 5, {}]) {
    assert.deepEqual(await zg.stopMixerTask(taskID), { errorCode: SdkError.INVALID_ARGUMENT, extendedData: "taskID must be a non-empty string" });
  }
  assert.deepEqual(await zg.startMixerTask({ ...CONFIG, roomID: "elsewhere" }), { errorCode: SdkError.NOT_LOGGED_IN, extendedData: "not in room elsewhere" });
  assert.deepEqual(sentSince(mark), []);
  zg.logoutRoom();
});

test("while reconnecting both resolve CONNECTION_LOST without waiting; once back they are sent", async () => {
  const zg = await loggedIn("class-4", "mixer-drop");
  const events = record(zg, ["roomStateChanged"]);
  server.answer("startMixerTask", (data) => ok({ taskID: data.taskID, outputList: [{ streamID: "m" }] }));
  server.answer("stopMixerTask", () => ok({}));
  network.down("?who=mixer-drop");
  try {
    await waitFor(() => events.some((e) => e[2] === "RECONNECTING"), { what: "RECONNECTING" });
    const mark = server.frames.length;
    assert.deepEqual(await zg.startMixerTask(CONFIG), { errorCode: SdkError.CONNECTION_LOST, extendedData: "reconnecting; try again" });
    assert.deepEqual(await zg.stopMixerTask("class-1-mix"), { errorCode: SdkError.CONNECTION_LOST, extendedData: "reconnecting; try again" });
    assert.deepEqual(sentSince(mark), []);
  } finally {
    network.up("?who=mixer-drop");
  }
  await waitFor(() => events.some((e) => e[2] === "RECONNECTED"), { what: "RECONNECTED" });
  assert.equal((await zg.startMixerTask(CONFIG)).errorCode, 0);
  assert.equal((await zg.stopMixerTask("class-1-mix")).errorCode, 0);
  zg.logoutRoom();
});
