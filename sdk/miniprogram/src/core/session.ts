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
import { PendingOps, PublishOp } from "./pending";
import type { Platform } from "./platform";
import type { Presence, RoomReason } from "./presence";
import { PROTOCOL, Reply, RequestData, ServerReason, SessionIDs } from "./protocol";
import { handlePush } from "./pushes";
import { loginAgain, quietly, RecoveryHost, resume, sendPending } from "./recovery";
import { Outcome, Retrier } from "./retry";
import { Room, SnapshotDiff } from "./room";
import type { DuetError, PublishGrant, ZegoRoomConfig, ZegoUser } from "./types";

/** How long the SDK keeps trying to get back into its rooms after a drop. */
const RECONNECT_WINDOW_MS = 5 * 60 * 1000;
/** Server close reasons after which logging in again cannot help. */
const TERMINAL_CLOSE: ServerReason[] = ["kicked_out", "kicked_by_server", "room_closed", "abusive"];

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

export class Session implements RecoveryHost {
  /** Set by enableMultiRoom before the first login. */
  multiRoom = false;
  /** The servers to try, in order from `serverIndex`: the page's list, with those a draining server named first. */
  private servers: string[];
  private serverIndex = 0;
  private conn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private ids: SessionIDs | undefined;
  private readonly retry: Retrier;
  readonly pending = new PendingOps();
  private pendingLogins = 0;
  private destroyed = false;
  private readonly stopWaking: () => void;

  constructor(private readonly cfg: SessionConfig) {
    this.servers = [...cfg.servers];
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

  get presence(): Presence {
    return this.cfg.presence;
  }

  get logger(): Logger {
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
      const reply = await conn.request("login", this.loginData({ roomID, token, user, config }));
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
      if (conn) sent.push(quietly(this.logger, conn.request("logout", { roomID }), `logout of ${roomID}`));
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
        this.logger.adoptCredential(reply);
        this.logger.info("token renewed");
      })
      .catch((err: DuetError) => this.logger.error(`renewToken refused: ${err.code} ${err.msg}`));
  }

  /** Reserves a stream now, or once the session is back (the promise waits for that). */
  publish(roomID: string, streamID: string, extraInfo: string, streamParams: string | undefined): Promise<PublishGrant> {
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
    if (conn) void quietly(this.logger, conn.request("stopPublish", { streamID }), `stopPublish ${streamID}`);
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

  /** What `login` sends for `room` (also when logging in again). */
  loginData(room: Pick<Room, "roomID" | "token" | "user" | "config">): RequestData<"login"> {
    return {
      protocol: PROTOCOL,
      appID: this.cfg.appID,
      roomID: room.roomID,
      token: room.token,
      user: room.user,
      userUpdate: room.config.userUpdate,
      maxMemberCount: room.config.maxMemberCount,
      multiRoom: this.multiRoom,
    };
  }

  adopt(reply: Reply<"login">): void {
    this.ids = { sessionID: reply.sessionID, resumeToken: reply.resumeToken };
    this.logger.identity.sessionID = reply.sessionID;
    this.logger.adoptCredential(reply);
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

  /** Each server once, from the last good one (or the first a draining server named). */
  private async connectAny(): Promise<Connection> {
    let last: DuetError = duetError(SdkError.NETWORK_UNREACHABLE, "no server");
    const tried = new Set<string>();
    let queue = this.inOrder();
    for (let url = queue.shift(); url !== undefined; url = queue.shift()) {
      if (tried.has(url)) continue;
      tried.add(url);
      const conn: Connection = new Connection(url, this.cfg.platform, this.logger, {
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
        this.serverIndex = this.servers.indexOf(url);
        this.conn = conn;
        this.logger.info(`connected to ${url}`);
        return conn;
      } catch (e) {
        last = e as DuetError;
        this.logger.warn(last.msg);
        if (this.redirect(conn.closedBy)) queue = this.inOrder();
      }
    }
    throw last;
  }

  private inOrder(): string[] {
    const n = this.servers.length;
    return this.servers.map((_, i) => this.servers[(this.serverIndex + i) % n]);
  }

  /**
   * A draining server (`server_draining`) names the servers to go to: they are tried first from
   * now on, before the page's own list. Returns whether it did.
   */
  private redirect(why: Ended | undefined): boolean {
    if (why?.reason !== "server_draining" || !why.servers?.length) return false;
    this.servers = [...new Set([...why.servers, ...this.cfg.servers])];
    this.serverIndex = 0;
    this.logger.info(`the server is draining; going to ${why.servers[0]}`);
    return true;
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
    this.redirect(why);
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
      const resumed = this.ids ? await resume(conn, this.ids, this) : "lost";
      if (!(resumed instanceof Set)) this.ids = undefined;
      if (resumed !== "lost" && !(resumed instanceof Set)) {
        // Ended on purpose while away: logging in again would kick the device that took over.
        for (const id of [...this.presence.rooms.keys()]) this.leave(id, "KICKOUT", resumed.ended.code);
        this.retry.stop();
        return this.gone();
      }
      if (!this.retry.current(run)) return this.gone();
      const held = resumed instanceof Set ? resumed : new Set<string>();
      const missing = [...this.presence.rooms.values()].filter((room) => !held.has(room.roomID));
      if (missing.length > 0) await loginAgain(conn, missing, this);
      if (!this.retry.current(run)) return this.gone();
      await sendPending(conn, held, this);
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
}
