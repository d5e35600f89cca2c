/**
 * Room events the server pushes (users, online count, streams, extra info, messages,
 * commands), applied to the SDK's copy of the room and announced as the page's events; and a
 * snapshot's difference announced the same way (after a login or a resync).
 */

import type { Emitter } from "./emitter";
import type { Room, SnapshotDiff } from "./room";

/** Applies and announces one room event; false when `name` is not a room event. */
export function applyRoomEvent(room: Room, name: string, data: any, emitter: Emitter): boolean {
  switch (name) {
    case "roomUserUpdate":
      for (const u of data.userList || []) {
        if (data.updateType === "ADD") room.users.set(u.userID, u);
        else room.users.delete(u.userID);
      }
      if (room.config.userUpdate) emitter.emit("roomUserUpdate", room.roomID, data.updateType, data.userList || []);
      return true;
    case "roomOnlineUserCountUpdate":
      if (room.onlineCount !== data.count) {
        room.onlineCount = data.count;
        emitter.emit("roomOnlineUserCountUpdate", room.roomID, data.count);
      }
      return true;
    case "roomStreamUpdate":
      for (const s of data.streamList || []) {
        if (data.updateType === "ADD") room.streams.set(s.streamID, s);
        else room.streams.delete(s.streamID);
      }
      emitter.emit("roomStreamUpdate", room.roomID, data.updateType, data.streamList || [], "");
      return true;
    case "streamExtraInfoUpdate":
      for (const s of data.streamList || []) {
        const known = room.streams.get(s.streamID);
        if (known) known.extraInfo = s.extraInfo;
      }
      emitter.emit("streamExtraInfoUpdate", room.roomID, data.streamList || []);
      return true;
    case "roomExtraInfoUpdate":
      for (const e of data.roomExtraInfoList || []) room.extraInfo.set(e.key, e);
      emitter.emit("roomExtraInfoUpdate", room.roomID, data.roomExtraInfoList || []);
      return true;
    case "IMRecvBroadcastMessage":
    case "IMRecvBarrageMessage":
      emitter.emit(name, room.roomID, data.messageList || []);
      return true;
    case "IMRecvCustomCommand":
      emitter.emit("IMRecvCustomCommand", room.roomID, data.fromUser, data.command);
      return true;
    default:
      return false;
  }
}

/** Announces a snapshot's difference the way live events would have. */
export function emitDiff(room: Room, diff: SnapshotDiff, emitter: Emitter): void {
  const id = room.roomID;
  if (room.config.userUpdate) {
    if (diff.usersRemoved.length) emitter.emit("roomUserUpdate", id, "DELETE", diff.usersRemoved);
    if (diff.usersAdded.length) emitter.emit("roomUserUpdate", id, "ADD", diff.usersAdded);
  }
  if (diff.onlineCount !== undefined) emitter.emit("roomOnlineUserCountUpdate", id, diff.onlineCount);
  if (diff.streamsRemoved.length) emitter.emit("roomStreamUpdate", id, "DELETE", diff.streamsRemoved, "");
  if (diff.streamsAdded.length) emitter.emit("roomStreamUpdate", id, "ADD", diff.streamsAdded, "");
  if (diff.extraInfoChanged.length) emitter.emit("roomExtraInfoUpdate", id, diff.extraInfoChanged);
}
