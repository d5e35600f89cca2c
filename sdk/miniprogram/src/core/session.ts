/**
 * The signaling session's life: connecting through the server list, logging in, and, when the
 * connection drops, getting back into every room: resume the session (the server replays what
 * was missed) or log in again and report the difference, reserve the published streams again,
 * then send what the page asked for meanwhile (one queue, pending.ts). It ends rooms when the
 * server says so (kick-out, a session taken over) or when recovery gives up, and closes the
 * socket when nothing needs it.
 *
 * While the session is away or being recovered, `live()` is undefined: requests that can wait
 * are queued, the others fail with CONNECTION_LOST.
 */

import { Connection, Ended } from "./connection";
import { duetError, SdkError } from "./errors";
import type { Logger } from "./logger";
import { PendingOp, PendingOps, PublishOp } from "./pending";
import type { Platform } from "./platform";
import type { Presence, RoomReason } from "./presence";
import { PROTOCOL, Reply, ServerError, ServerReason, SessionIDs } from "./protocol";
import { handlePush } from "./pushes";
import { Outcome, Retrier } from "./retry";
import { Room, SnapshotDiff } from "./room";
import { emitDiff } from "./room_events";
import type { DuetError, ZegoRoomConfig, ZegoUser } from "./types";

/** How long the SDK keeps trying to get back into its rooms after a drop. */
const RECONNECT_WINDOW_MS = 5 * 60 * 1000;
/** Server close reasons after which logging in again cannot help. */
const TERMINAL_CLOSE: ServerReason[] = ["kicked_out", "kicked_by_server", "room_closed", "abusive"];
/** Resume refusals saying the session was ended on purpose: logging in again would kick the device that took over. */
const ENDED_CODES: number[] = [ServerError.token_expired, ServerError.kicked_out, ServerError.kicked_by_server, ServerError.room_closed];
/** Failures of the connection rather than of the request: worth sending again on the next one. */
const CONNECTION_CODES: number[] = [SdkError.CONNECTION_LOST, SdkError.REQUEST_TIMEOUT, SdkError.CANCELLED];

function loggedOut(roomID: string): DuetError {
  return duetError(SdkError.CANCELLED, `cancelled by logoutRoom(${roomID})`);
}

export interface SessionConfig {
  appID: number;
  servers: string[];
  platform: Platform;
  presence: Presence;
  logger: Logger;
}

export class Session {
  /** Set by enableMultiRoom before the first login. */
  multiRoom = false;
  private serverIndex = 0;
  private conn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private ids: SessionIDs | undefined;
  private readonly retry: Retrier;
  private readonly pending = new PendingOps();
  private pendingLogins = 0;
  private destroyed = false;
  private readonly stopWaking: () => void;

  constructor(private readonly cfg: SessionConfig) {
    this.retry = new Retrier(RECONNECT_WINDOW_MS, () => Date.now(), (run) => this.reconnectOnce(run), () => this.reconnectFailed());
    let stop = () => {};
    try {
      stop = cfg.platform.onWake(() => {
        if (!this.destroyed) this.retry.soon();
      });
    } catch {
      // Not every host has wake-up hints; reconnecting then relies on the backoff alone.
    }
    this.stopWaking = stop;
  }

  private get presence(): Presence {
    return this.cfg.presence;
  }

  private get logger(): Logger {
    return this.cfg.logger;
  }

  /** The connection to send on now: open and carrying the session (not while it is being recovered). */
  live(): Connection | undefined {
    return this.retry.retrying ? undefined : this.conn;
  }

  /**
   * Logs into a room (after any reconnect under way) and enters it; the caller announces it.
   * Rejects with the server's refusal or the SDK's connection errors.
   */
  async login(roomID: string, token: string, user: ZegoUser, config: ZegoRoomConfig): Promise<{ room: Room; diff: SnapshotDiff }> {
    this.pendingLogins++;
    try {
      // A login must not race a reconnect: it would replace the session being resumed.
      if (this.retry.retrying) {
        this.retry.soon();
        await this.retry.settled();
      }
      const conn = await this.connection();
      const reply = await conn.request("login", this.loginData(roomID, token, user, config));
      if (this.destroyed) throw duetError(SdkError.DESTROYED, "the engine was destroyed");
      this.adopt(reply);
      this.logger.identity.userID = user.userID;
      this.logger.identity.roomID = roomID;
      const room = new Room(roomID, token, user, config);
      this.presence.rooms.set(roomID, room);
      return { room, diff: room.apply(reply) };
    } finally {
      this.pendingLogins--;
    }
  }

  /** Leaves rooms the page logged out of: tells the server now, or once the session is back. */
  logout(roomIDs: string[]): void {
    const conn = this.live();
    const sent: Promise<unknown>[] = [];
    for (const roomID of roomIDs) {
      if (conn) sent.push(this.quietly(conn.request("logout", { roomID }), `logout of ${roomID}`));
      this.leave(roomID, "LOGOUT", 0);
      if (!conn && this.retry.retrying) this.pending.logout(roomID, loggedOut(roomID));
    }
    // Out of every room: close once the server has the logout, unless a new login came first.
    Promise.all(sent).then(() => {
      if (this.conn === conn) this.closeIfIdle();
    });
  }

  /** Sends the rooms' new token now, or once the session is back. */
  renewToken(rooms: Room[], token: string, roomID: string | undefined): void {
    for (const room of rooms) room.token = token;
    const conn = this.live();
    if (!conn) {
      if (this.retry.retrying) for (const room of rooms) this.pending.renewToken(room.roomID);
      return;
    }
    conn
      .request("renewToken", roomID === undefined ? { token } : { token, roomID })
      .then((reply) => {
        for (const room of rooms) room.tokenExpire = reply.tokenExpire;
        this.logger.info("token renewed");
      })
      .catch((err: DuetError) => this.logger.error(`renewToken refused: ${err.code} ${err.msg}`));
  }

  /** Reserves a stream now, or once the session is back (the promise waits for that). */
  publish(roomID: string, streamID: string, extraInfo: string, streamParams: string | undefined): Promise<{ streamID: string; url: string }> {
    const conn = this.live();
    if (conn) return this.presence.publish(conn, roomID, streamID, extraInfo, streamParams);
    if (!this.retry.retrying) return Promise.reject(duetError(SdkError.CONNECTION_LOST, "not connected to the server"));
    this.logger.info(`publishing ${streamID} once the connection is back`);
    return new Promise((resolve, reject) => this.pending.publish({ roomID, streamID, extraInfo, streamParams }, { resolve, reject }));
  }

  /**
   * Takes back a publish queued while away (its promise rejects with CANCELLED). Returns it, or
   * undefined when none was queued.
   */
  cancelQueuedPublish(streamID: string): PublishOp | undefined {
    return this.pending.cancelPublish(streamID, duetError(SdkError.CANCELLED, `stopPublishingStream(${streamID}) was called before the publish was sent`));
  }

  /** Releases a stream the server may hold for this session: now, or once the session is back. */
  stopPublish(roomID: string, streamID: string): void {
    const conn = this.live();
    if (conn) void this.quietly(conn.request("stopPublish", { streamID }), `stopPublish ${streamID}`);
    else if (this.retry.retrying) this.pending.stopPublish(roomID, streamID);
  }

  /** Forgets a room and says why; out of every room, stops reconnecting and drops what waited. */
  leave(roomID: string, reason: RoomReason, code: number): void {
    if (!this.presence.forget(roomID, code)) return;
    const err = code === 0 ? loggedOut(roomID) : duetError(code, `left room ${roomID}: ${reason}`);
    this.pending.dropRoom(roomID, err);
    if (this.presence.rooms.size === 0) {
      this.retry.stop();
      this.pending.clear(err);
    }
    this.presence.roomState(roomID, "DISCONNECTED", reason, code, "");
  }

  /** Closes the socket when nothing needs it: no room, no login under way, no reconnect. */
  closeIfIdle(): void {
    if (this.presence.rooms.size === 0 && this.pendingLogins === 0 && !this.retry.retrying) this.closeConnection();
  }

  destroy(): void {
    this.destroyed = true;
    this.stopWaking();
    this.retry.stop();
    this.pending.clear(duetError(SdkError.DESTROYED, "the engine was destroyed"));
    this.closeConnection();
  }

  // ---- connection ---------------------------------------------------------------------

  private loginData(roomID: string, token: string, user: ZegoUser, cfg: ZegoRoomConfig) {
    return {
      protocol: PROTOCOL,
      appID: this.cfg.appID,
      roomID,
      token,
      user,
      userUpdate: cfg.userUpdate,
      maxMemberCount: cfg.maxMemberCount,
      multiRoom: this.multiRoom,
    };
  }

  private adopt(reply: Reply<"login">): void {
    this.ids = { sessionID: reply.sessionID, resumeToken: reply.resumeToken };
    this.logger.identity.sessionID = reply.sessionID;
  }

  /** The open connection, or a new one through the server list (the last good one first). */
  private connection(): Promise<Connection> {
    if (this.conn) return Promise.resolve(this.conn);
    if (!this.connecting) {
      this.connecting = this.connectAny().then(
        (c) => {
          this.connecting = undefined;
          return c;
        },
        (e) => {
          this.connecting = undefined;
          throw e;
        },
      );
    }
    return this.connecting;
  }

  private async connectAny(): Promise<Connection> {
    const servers = this.cfg.servers;
    let last: DuetError = duetError(SdkError.NETWORK_UNREACHABLE, "no server");
    for (let i = 0; i < servers.length; i++) {
      const index = (this.serverIndex + i) % servers.length;
      const conn: Connection = new Connection(servers[index], this.cfg.platform, this.logger, {
        push: (push) => {
          if (conn === this.conn && !this.destroyed) handlePush(push, this.pushTarget);
        },
        ended: (why) => this.onEnded(conn, why),
      });
      try {
        await conn.open();
        if (this.destroyed) {
          conn.close();
          throw duetError(SdkError.DESTROYED, "the engine was destroyed");
        }
        this.serverIndex = index;
        this.conn = conn;
        this.logger.info(`connected to ${servers[index]}`);
        return conn;
      } catch (e) {
        last = e as DuetError;
        this.logger.warn(last.msg);
      }
    }
    throw last;
  }

  private readonly pushTarget = {
    presence: this.cfg.presence,
    logger: this.cfg.logger,
    kickedOut: (roomID: string, code: number) => {
      this.leave(roomID, "KICKOUT", code);
      this.closeIfIdle();
    },
  };

  private closeConnection(): void {
    const conn = this.conn;
    this.conn = undefined;
    if (conn) conn.close();
    if (this.presence.rooms.size === 0) this.ids = undefined;
  }

  private onEnded(conn: Connection, why: Ended): void {
    if (conn !== this.conn) return;
    this.conn = undefined;
    this.logger.warn(`connection ended: ${why.reason} (${why.code})`);
    if (this.destroyed || this.presence.rooms.size === 0) return;
    if ((TERMINAL_CLOSE as string[]).indexOf(why.reason) >= 0) {
      for (const id of [...this.presence.rooms.keys()]) this.leave(id, "KICKOUT", why.code);
      this.ids = undefined;
      return;
    }
    if (this.retry.retrying) return;
    for (const id of this.presence.rooms.keys()) this.presence.roomState(id, "CONNECTING", "RECONNECTING", why.code, "");
    this.retry.start();
  }

  // ---- recovery -----------------------------------------------------------------------

  /** One attempt to get back into every room (run `run` of the retrier). */
  private async reconnectOnce(run: number): Promise<Outcome> {
    if (this.destroyed) return "done";
    try {
      const conn = await this.connection();
      if (!this.retry.current(run)) return this.gone();
      const held = this.ids ? await this.tryResume(conn) : "lost";
      if (held === "ended" || !this.retry.current(run)) {
        this.retry.stop();
        return this.gone();
      }
      const kept = held === "lost" ? new Set<string>() : held;
      const missing = [...this.presence.rooms.values()].filter((room) => !kept.has(room.roomID));
      if (missing.length > 0) await this.loginAgain(conn, missing);
      if (!this.retry.current(run)) return this.gone();
      await this.sendPending(conn, kept);
      if (!this.retry.current(run)) return this.gone();
      this.retry.stop();
      for (const id of this.presence.rooms.keys()) this.presence.roomState(id, "CONNECTED", "RECONNECTED", 0, "");
      this.closeIfIdle();
      return "done";
    } catch (e) {
      const err = e as DuetError;
      this.logger.warn(`reconnect attempt failed: ${err.code} ${err.msg}`);
      return "failed";
    }
  }

  /** The rooms that needed the reconnect are gone (logged out, kicked): drop the socket if idle. */
  private gone(): Outcome {
    this.closeIfIdle();
    return "done";
  }

  private reconnectFailed(): void {
    for (const id of [...this.presence.rooms.keys()]) this.leave(id, "RECONNECT_FAILED", SdkError.RECONNECT_FAILED);
    this.closeIfIdle();
  }

  /**
   * Resumes the session on a new connection. Returns the rooms the server still has this
   * session in, "lost" when the session is gone, or "ended" when it was ended on purpose while
   * away (kicked out, room closed, token expired).
   */
  private async tryResume(conn: Connection): Promise<Set<string> | "lost" | "ended"> {
    const ids = this.ids!;
    const rooms: Record<string, number> = {};
    for (const room of this.presence.rooms.values()) rooms[room.roomID] = room.seq;
    let reply: Reply<"resume">;
    try {
      reply = await conn.request("resume", { ...ids, rooms });
    } catch (e) {
      const err = e as DuetError;
      if (ENDED_CODES.indexOf(err.code) >= 0) {
        this.logger.warn(`the session was ended while away: ${err.code} ${err.msg}`);
        this.ids = undefined;
        for (const id of [...this.presence.rooms.keys()]) this.leave(id, "KICKOUT", err.code);
        return "ended";
      }
      if (err.code !== ServerError.resume_failed) throw err;
      this.logger.warn("the session could not be resumed; logging in again");
      this.ids = undefined;
      return "lost";
    }
    const held = new Set<string>();
    for (const r of reply.rooms || []) {
      held.add(r.roomID);
      const room = this.presence.rooms.get(r.roomID);
      if (room && typeof r.onlineCount === "number" && r.onlineCount !== room.onlineCount) {
        room.onlineCount = r.onlineCount;
        this.presence.emitter.emit("roomOnlineUserCountUpdate", room.roomID, r.onlineCount);
      }
    }
    this.logger.info(`session ${ids.sessionID} resumed`);
    return held;
  }

  /** Logs into rooms again after the session lost them, reporting what changed. */
  private async loginAgain(conn: Connection, rooms: Room[]): Promise<void> {
    for (const room of rooms) {
      if (!this.presence.rooms.has(room.roomID)) continue;
      let reply: Reply<"login">;
      try {
        reply = await conn.request("login", this.loginData(room.roomID, room.token, room.user, room.config));
      } catch (e) {
        const err = e as DuetError;
        if (err.code >= 60000) throw err; // the connection, not the login: try again later
        this.logger.error(`cannot log into ${room.roomID} again: ${err.code} ${err.msg}`);
        this.leave(room.roomID, "RECONNECT_FAILED", err.code);
        continue;
      }
      this.adopt(reply);
      emitDiff(room, room.apply(reply), this.presence.emitter);
      await this.publishAgain(conn, room.roomID);
    }
  }

  /** A new session holds no reservations: take back the streams this user was publishing. */
  private async publishAgain(conn: Connection, roomID: string): Promise<void> {
    const streams = this.presence.streams;
    for (const [streamID, p] of streams.publishing) {
      if (p.roomID !== roomID) continue;
      try {
        await conn.request("publish", { roomID, streamID, extraInfo: p.extraInfo });
      } catch (e) {
        const err = e as DuetError;
        streams.publishing.delete(streamID);
        streams.setPublishState(streamID, "NO_PUBLISH", err.code, err.msg);
      }
    }
  }

  /**
   * Sends what the page asked for while away, oldest first. `held`: the rooms the resumed
   * session kept (logouts, stops and tokens matter only there; a fresh login already has the
   * newest token and holds no streams). An operation cut short by the connection stays queued
   * for the next attempt.
   */
  private async sendPending(conn: Connection, held: Set<string>): Promise<void> {
    for (let op = this.pending.next(); op; op = this.pending.next()) {
      try {
        await this.sendOp(conn, op, held);
      } catch (e) {
        this.pending.putBack(op);
        throw e;
      }
    }
  }

  private async sendOp(conn: Connection, op: PendingOp, held: Set<string>): Promise<void> {
    const room = this.presence.rooms.get(op.roomID);
    switch (op.kind) {
      case "logout":
        if (held.has(op.roomID)) await this.quietly(conn.request("logout", { roomID: op.roomID }), `logout of ${op.roomID}`, true);
        return;
      case "stopPublish":
        if (held.has(op.roomID)) await this.quietly(conn.request("stopPublish", { streamID: op.streamID }), `stopPublish ${op.streamID}`, true);
        return;
      case "renewToken":
        if (room && held.has(op.roomID)) {
          const reply = await this.quietly(conn.request("renewToken", { token: room.token, roomID: op.roomID }), `renewToken of ${op.roomID}`, true);
          if (reply) room.tokenExpire = reply.tokenExpire;
        }
        return;
      case "publish": {
        if (!room) {
          for (const w of op.waiters) w.reject(duetError(SdkError.NOT_LOGGED_IN, `not in room ${op.roomID}`));
          return;
        }
        let result: { streamID: string; url: string };
        try {
          result = await this.presence.publish(conn, op.roomID, op.streamID, op.extraInfo, op.streamParams);
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
  private quietly<T>(request: Promise<T>, what: string, rethrowConnection = false): Promise<T | undefined> {
    return request.catch((err: DuetError) => {
      if (rethrowConnection && CONNECTION_CODES.indexOf(err.code) >= 0) throw err;
      if (err.code === SdkError.CANCELLED) this.logger.debug(`${what}: ${err.msg}`);
      else this.logger.warn(`${what}: ${err.msg}`);
      return undefined;
    });
  }
}
