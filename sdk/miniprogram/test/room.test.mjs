// A room's state: snapshots applied as differences (login, roomResync, login after a lost
// session) and replayed events recognised by their seq.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Room } from "../dist/core/room.js";

const user = (id) => ({ userID: id, userName: id });
const stream = (id, owner) => ({ streamID: id, user: user(owner), extraInfo: "", urlsRTMP: [], urlsFLV: [], urlsHLS: [], urlsHttpsFLV: [], urlsHttpsHLS: [] });

test("the first snapshot is all additions", () => {
  const room = new Room("r", "t", user("me"), { userUpdate: true });
  const diff = room.apply({ roomID: "r", seq: 4, users: [user("a"), user("b")], streams: [stream("s1", "a")], extraInfo: [], onlineCount: 3 });
  assert.deepEqual(diff.usersAdded.map((u) => u.userID), ["a", "b"]);
  assert.deepEqual(diff.streamsAdded.map((s) => s.streamID), ["s1"]);
  assert.deepEqual(diff.usersRemoved, []);
  assert.equal(diff.onlineCount, 3);
  assert.equal(room.seq, 4);
});

test("a later snapshot reports exactly what changed", () => {
  const room = new Room("r", "t", user("me"), { userUpdate: true });
  room.apply({ roomID: "r", seq: 4, users: [user("a"), user("b")], streams: [stream("s1", "a")], extraInfo: [{ key: "k", value: "1", updateUser: user("a"), updateTime: 1 }], onlineCount: 3 });
  const diff = room.apply({
    roomID: "r",
    seq: 9,
    users: [user("b"), user("c")],
    streams: [stream("s2", "c")],
    extraInfo: [{ key: "k", value: "2", updateUser: user("b"), updateTime: 2 }],
    onlineCount: 3,
  });
  assert.deepEqual(diff.usersAdded.map((u) => u.userID), ["c"]);
  assert.deepEqual(diff.usersRemoved.map((u) => u.userID), ["a"]);
  assert.deepEqual(diff.streamsAdded.map((s) => s.streamID), ["s2"]);
  assert.deepEqual(diff.streamsRemoved.map((s) => s.streamID), ["s1"]);
  assert.deepEqual(diff.extraInfoChanged.map((e) => e.value), ["2"]);
  assert.equal(diff.onlineCount, undefined, "an unchanged count is not reported");
  assert.equal(room.seq, 9);
});

test("a stream now played from another server is announced again; a fresh signature is not a change", () => {
  const room = new Room("r", "t", user("me"), { userUpdate: true });
  const at = (id, host, sign) => ({ ...stream(id, "a"), urlsRTMP: [`rtmp://${host}/1/${id}?expire=9&sign=${sign}`] });
  room.apply({ roomID: "r", seq: 1, streams: [at("s1", "node-a:1935", "x"), at("s2", "node-a:1935", "x")] });
  const diff = room.apply({ roomID: "r", seq: 2, streams: [at("s1", "node-a:1935", "y"), at("s2", "node-b:1935", "y")] });
  assert.deepEqual(diff.streamsRemoved.map((s) => s.urlsRTMP[0]), ["rtmp://node-a:1935/1/s2?expire=9&sign=x"]);
  assert.deepEqual(diff.streamsAdded.map((s) => s.urlsRTMP[0]), ["rtmp://node-b:1935/1/s2?expire=9&sign=y"]);
});

test("events at or below the known seq are replays", () => {
  const room = new Room("r", "t", user("me"), {});
  room.apply({ roomID: "r", seq: 5 });
  assert.equal(room.accept(5), false);
  assert.equal(room.accept(3), false);
  assert.equal(room.accept(7), true, "gaps are normal: not every room event is for every member");
  assert.equal(room.accept(7), false);
  assert.equal(room.accept(undefined), true, "session pushes carry no seq");
});
