// A scripted stand-in for Duet's signaling (docs/protocol.md), for unit tests of what the SDK
// sends and how it reads replies, without the `duet` binary: it greets with `hello`, answers
// `login`, `resume`, `logout` and `ping` as the server would, records every request frame, and
// answers the other ops with what the test scripts (`server.answer(op, fn)`).
import { once } from "node:events";
import { WebSocketServer } from "ws";

export const ok = (data = {}) => ({ code: 0, data });
export const refuse = (code, reason, message) => ({ code, reason, message });

const HELLO = { protocol: 1, server: "fake", heartbeatMs: 10000, heartbeatTimeoutMs: 30000, resumeGraceMs: 30000, maxFrameBytes: 16384 };

/** Starts a fake server on a loopback port; `url` is its signaling address. */
export async function startFakeServer() {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  const frames = [];
  const scripted = new Map();
  let sessions = 0;
  const standard = {
    login: (data) =>
      ok({
        roomID: data.roomID,
        seq: 0,
        users: [],
        streams: [],
        extraInfo: [],
        onlineCount: 1,
        sessionID: String(++sessions),
        resumeToken: "resume-token",
        tokenExpire: Math.floor(Date.now() / 1000) + 3600,
        heartbeatMs: HELLO.heartbeatMs,
      }),
    resume: (data) => ok({ sessionID: data.sessionID, rooms: Object.keys(data.rooms || {}).map((roomID) => ({ roomID, replayed: true })) }),
    logout: () => ok({}),
    ping: () => ok({ serverTime: Date.now() }),
  };
  wss.on("connection", (ws) => {
    ws.send(JSON.stringify({ push: "hello", data: HELLO }));
    ws.on("message", (raw) => {
      const frame = JSON.parse(raw.toString());
      frames.push(frame);
      const answer = scripted.get(frame.op) || standard[frame.op] || (() => refuse(40001, "unknown_op", `no op ${frame.op}`));
      ws.send(JSON.stringify({ id: frame.id, ...answer(frame.data, frame) }));
    });
  });
  return {
    url: `ws://127.0.0.1:${wss.address().port}/ws`,
    /** Every request frame received, in order. */
    frames,
    /** The ops received, heartbeats left out. */
    ops: () => frames.filter((f) => f.op !== "ping").map((f) => f.op),
    /** Answers `op` with `fn(data, frame)` from now on: `ok(data)` or `refuse(code, reason, message)`. */
    answer(op, fn) {
      scripted.set(op, fn);
    },
    /** Sends the push `name` with `data` to every open connection. */
    push(name, data) {
      for (const ws of wss.clients) ws.send(JSON.stringify({ push: name, data }));
    },
    /** Connections open now. */
    clients: () => wss.clients.size,
    close() {
      for (const ws of wss.clients) ws.terminate();
      return new Promise((resolve) => wss.close(() => resolve()));
    },
  };
}
