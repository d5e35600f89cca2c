/**
 * The steps that bring a session back on a new connection, in the order session.ts runs them:
 * resume (which rooms the server kept), log into the others again and reserve their streams
 * again, then send what the page queued while away. The session decides when to run them and
 * what a failed step means for its rooms.
 */

import type { Connection } from "./connection";
import { duetError, SdkError } from "./errors";
import type { Logger } from "./logger";
import type { PendingOp, PendingOps } from "./pending";
import type { Presence, RoomReason } from "./presence";
import { Reply, RequestData, ServerError, SessionIDs } from "./protocol";
import type { Room } from "./room";
import { emitDiff } from "./room_events";
import type { DuetError, PublishGrant } from "./types";

/** Resume refusals saying the session was ended on purpose: logging in again would kick the device that took over. */
const ENDED_CODES: number[] = [ServerError.token_expired, ServerError.kicked_out, ServerError.kicked_by_server, ServerError.room_closed];
/** Refusals of a login that say "not now" (the server cannot read its app registry): tried again on the next attempt. */
const NOT_NOW_CODES: number[] = [ServerError.registry_unavailable];
/** Failures of the connection rather than of the request: worth sending again on the next one. */
const CONNECTION_CODES: number[] = [SdkError.CONNECTION_LOST, SdkError.REQUEST_TIMEOUT, SdkError.CANCELLED];

/** What the steps need of the session. */
export interface RecoveryHost {
  readonly presence: Presence;
  readonly logger: Logger;
  readonly pending: PendingOps;
  loginData(room: Room): RequestData<"login">;
  /** A login reply's session IDs are the session's now. */
  adopt(reply: Reply<"login">): void;
  leave(roomID: string, reason: RoomReason, code: number): void;
}

/**
 * Resumes the session `ids` on `conn`. Resolves with the rooms the server still has the session
 * in, "lost" when the session is gone (log in again), or `{ended}` when it was ended on purpose
 * while away (kicked out, room closed, token expired). Connection failures reject.
 */
export async function resume(conn: Connection, ids: SessionIDs, host: RecoveryHost): Promise<Set<string> | "lost" | { ended: DuetError }> {
  const { presence, logger } = host;
  const rooms: Record<string, number> = {};
  for (const room of presence.rooms.values()) rooms[room.roomID] = room.seq;
  let reply: Reply<"resume">;
  try {
    reply = await conn.request("resume", { ...ids, rooms });
  } catch (e) {
    const err = e as DuetError;
    if (ENDED_CODES.indexOf(err.code) >= 0) {
      logger.warn(`the session was ended while away: ${err.code} ${err.msg}`);
      return { ended: err };
    }
    if (err.code !== ServerError.resume_failed) throw err;
    logger.warn("the session could not be resumed; logging in again");
    return "lost";
  }
  const held = new Set<string>();
  for (const r of reply.rooms || []) {
    held.add(r.roomID);
    const room = presence.rooms.get(r.roomID);
    if (room && typeof r.onlineCount === "number" && r.onlineCount !== room.onlineCount) {
      room.onlineCount = r.onlineCount;
      presence.emitter.emit("roomOnlineUserCountUpdate", room.roomID, r.onlineCount);
    }
  }
  logger.adoptCredential(reply);
  logger.info(`session ${ids.sessionID} resumed`);
  return held;
}

/** Logs into rooms again after the session lost them, reporting what changed; a refused room is left. */
export async function loginAgain(conn: Connection, rooms: Room[], host: RecoveryHost): Promise<void> {
  for (const room of rooms) {
    if (!host.presence.rooms.has(room.roomID)) continue;
    let reply: Reply<"login">;
    try {
      reply = await conn.request("login", host.loginData(room));
    } catch (e) {
      const err = e as DuetError;
      // The connection, not the login, or the server cannot tell now: try again later.
      if (err.code >= 60000 || NOT_NOW_CODES.indexOf(err.code) >= 0) throw err;
      host.logger.error(`cannot log into ${room.roomID} again: ${err.code} ${err.msg}`);
      host.leave(room.roomID, "RECONNECT_FAILED", err.code);
      continue;
    }
    host.adopt(reply);
    // A new session: the room's streams are new publishes or are played through another node
    // now, so each is announced afresh (DELETE of what was known, ADD of what is live).
    const known = [...room.streams.values()];
    room.streams = new Map();
    const diff = room.apply(reply);
    diff.streamsRemoved = known;
    emitDiff(room, diff, host.presence.emitter);
    await publishAgain(conn, room.roomID, host.presence);
  }
}

/** A new session holds no reservations: take back the streams this user was publishing. */
async function publishAgain(conn: Connection, roomID: string, presence: Presence): Promise<void> {
  const streams = presence.streams;
  for (const [streamID, p] of streams.publishing) {
    if (p.roomID !== roomID) continue;
    try {
      await presence.publish(conn, roomID, streamID, p.extraInfo, p.streamParams);
    } catch (e) {
      // Taken meanwhile, say: the page's publisher (its pusher, its WHIP link) stops too.
      const err = e as DuetError;
      streams.setPublishState(streamID, "NO_PUBLISH", err.code, err.msg);
      presence.unpublish(streamID, err.code);
    }
  }
}

/**
 * Sends what the page asked for while away, oldest first. `held`: the rooms the resumed
 * session kept (logouts, stops and tokens matter only there; a fresh login already has the
 * newest token and holds no streams). An operation cut short by the connection goes back in
 * the queue for the next attempt, and the failure is passed on.
 */
export async function sendPending(conn: Connection, held: Set<string>, host: RecoveryHost): Promise<void> {
  for (let op = host.pending.next(); op; op = host.pending.next()) {
    try {
      await sendOp(conn, op, held, host);
    } catch (e) {
      host.pending.putBack(op);
      throw e;
    }
  }
}

async function sendOp(conn: Connection, op: PendingOp, held: Set<string>, host: RecoveryHost): Promise<void> {
  const { presence, logger } = host;
  const room = presence.rooms.get(op.roomID);
  switch (op.kind) {
    case "logout":
      if (held.has(op.roomID)) await quietly(logger, conn.request("logout", { roomID: op.roomID }), `logout of ${op.roomID}`, true);
      return;
    case "stopPublish":
      if (held.has(op.roomID)) await quietly(logger, conn.request("stopPublish", { streamID: op.streamID }), `stopPublish ${op.streamID}`, true);
      return;
    case "renewToken":
      if (room && held.has(op.roomID)) {
        const reply = await quietly(logger, conn.request("renewToken", { token: room.token, roomID: op.roomID }), `renewToken of ${op.roomID}`, true);
        if (reply) {
          room.tokenExpire = reply.tokenExpire;
          logger.adoptCredential(reply);
        }
      }
      return;
    case "publish": {
      if (!room) {
        for (const w of op.waiters) w.reject(duetError(SdkError.NOT_LOGGED_IN, `not in room ${op.roomID}`));
        return;
      }
      let result: PublishGrant;
      try {
        result = await presence.publish(conn, op.roomID, op.streamID, op.extraInfo, op.streamParams);
      } catch (e) {
        if (CONNECTION_CODES.indexOf((e as DuetError).code) >= 0) throw e;
        for (const w of op.waiters) w.reject(e as DuetError);
        return;
      }
      for (const w of op.waiters) w.resolve(result);
      return;
    }
  }
}

/**
 * A request whose refusal is only worth a log line (one cancelled by closing the connection is
 * expected). With `rethrowConnection`, a failure of the connection itself is passed on.
 */
export function quietly<T>(logger: Logger, request: Promise<T>, what: string, rethrowConnection = false): Promise<T | undefined> {
  return request.catch((err: DuetError) => {
    if (rethrowConnection && CONNECTION_CODES.indexOf(err.code) >= 0) throw err;
    if (err.code === SdkError.CANCELLED) logger.debug(`${what}: ${err.msg}`);
    else logger.warn(`${what}: ${err.msg}`);
    return undefined;
  });
}
