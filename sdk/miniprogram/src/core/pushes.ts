/**
 * What a push from the server does: room events (once each, by `seq`) go to room_events.ts;
 * session pushes change publisher states, warn of a token's expiry, resynchronise a room, or
 * end a room (kick-out), which the session carries out.
 */

import type { Logger } from "./logger";
import type { Presence } from "./presence";
import type { Push } from "./protocol";
import { applyRoomEvent, emitDiff } from "./room_events";

export interface PushTarget {
  presence: Presence;
  logger: Logger;
  /** The server took this session out of `roomID`. */
  kickedOut(roomID: string, code: number): void;
}

export function handlePush(push: Push, to: PushTarget): void {
  const { presence, logger } = to;
  const emitter = presence.emitter;
  const roomID = (push.data as { roomID?: unknown }).roomID;
  const room = typeof roomID === "string" ? presence.rooms.get(roomID) : undefined;
  if (push.seq !== undefined && (!room || !room.accept(push.seq))) return;
  if (room && applyRoomEvent(room, push, emitter)) return;
  switch (push.name) {
    case "publisherStateUpdate": {
      const { streamID, state, errorCode } = push.data;
      if (presence.streams.publishing.has(streamID)) presence.streams.setPublishState(streamID, state, errorCode || 0, "");
      return;
    }
    case "tokenWillExpire":
      if (room) {
        logger.warn(`the token of room ${room.roomID} expires at ${push.data.tokenExpire}; call renewToken`);
        emitter.emit("tokenWillExpire", room.roomID);
      }
      return;
    case "kickout":
      if (room) {
        logger.warn(`kicked out of room ${room.roomID}: ${push.data.reason} (${push.data.code})`);
        to.kickedOut(room.roomID, push.data.code);
      }
      return;
    case "roomResync":
      if (room) emitDiff(room, room.apply(push.data), emitter);
      return;
    case "close":
    case "hello":
      return;
    default:
      if (!room) logger.debug(`ignored push ${push.name}`);
  }
}
