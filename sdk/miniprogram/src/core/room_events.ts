/**
 * Room events the server pushes (users, online count, streams, extra info, messages,
 * commands), applied to the SDK's copy of the room and announced as the page's events; and a
 * snapshot's difference announced the same way (after a login or a resync).
 */

import type { Emitter } from "./emitter";
import type { Push } from "./protocol";
import type { Room, SnapshotDiff } from "./room";

/** Applies and announces one room event; false when the push is not a room event. */
export function applyRoomEvent(room: Room, push: Push, emitter: Emitter): boolean {
  switch (push.name) {
    case "roomUserUpdate": {
      const { updateType, userList = [] } = push.data;
      for (const u of userList) {
        if (updateType === "ADD") room.users.set(u.userID, u);
        else room.users.delete(u.userID);
      }
      if (room.config.userUpdate) emitter.emit("roomUserUpdate", room.roomID, updateType, userList);
      return true;
    }
    case "roomOnlineUserCountUpdate":
      if (room.onlineCount !== push.data.count) {
        room.onlineCount = push.data.count;
        emitter.emit("roomOnlineUserCountUpdate", room.roomID, push.data.count);
      }
      return true;
    case "roomStreamUpdate": {
      const { updateType, streamList = [] } = push.data;
      for (const s of streamList) {
        if (updateType === "ADD") room.streams.set(s.streamID, s);
        else room.streams.delete(s.streamID);
      }
      emitter.emit("roomStreamUpdate", room.roomID, updateType, streamList, "");
      return true;
    }
    case "streamExtraInfoUpdate": {
      const streamList = push.data.streamList || [];
      for (const s of streamList) {
        const known = room.streams.get(s.streamID);
        if (known) known.extraInfo = s.extraInfo;
      }
      emitter.emit("streamExtraInfoUpdate", room.roomID, streamList);
      return true;
    }
    case "roomExtraInfoUpdate": {
      const list = push.data.roomExtraInfoList || [];
      for (const e of list) room.extraInfo.set(e.key, e);
      emitter.emit("roomExtraInfoUpdate", room.roomID, list);
      return true;
    }
    case "IMRecvBroadcastMessage":
    case "IMRecvBarrageMessage":
      emitter.emit(push.name, room.roomID, push.data.messageList || []);
      return true;
    case "IMRecvCustomCommand":
      emitter.emit("IMRecvCustomCommand", room.roomID, push.data.fromUser, push.data.command);
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
