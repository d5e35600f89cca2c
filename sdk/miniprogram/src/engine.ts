/**
 * The engine a page creates: the public API of COMPAT.md §1. It owns the rooms the user is in,
 * the streams it publishes and plays, and the signaling connection's life: connecting through
 * the server list, reconnecting with backoff, resuming the session (or logging in again and
 * reporting the difference), kick-out, and token renewal.
 */

import { Connection, Ended, PROTOCOL } from "./connection";
import { DuetPlayer, DuetPusher, PageBinding, PlayerAttributes, PusherAttributes, WxContext } from "./context";
import { Emitter } from "./emitter";
import { duetError, SdkError } from "./errors";
import { Logger, logURLFor } from "./logger";
import { Room, Snapshot } from "./room";
import { applyRoomEvent, emitDiff } from "./room_events";
import { Outcome, Retrier } from "./retry";
import { StreamStates } from "./stream_states";
import type {
  DuetError,
  DuetEvents,
  EventName,
  LogConfig,
  PlayOption,
  PublishOption,
  ZegoResult,
  ZegoRoomConfig,
  ZegoUser,
} from "./types";

export const VERSION = "0.1.0";

/** How long the SDK keeps trying to get back into its rooms after a drop. */
const RECONNECT_WINDOW_MS = 5 * 60 * 1000;
const STREAM_ID = /^[0-9A-Za-z_-]{1,256}$/;
/** Server close reasons after which logging in again cannot help. */
const TERMINAL_CLOSE = ["kicked_out", "kicked_by_server", "room_closed", "abusive"];
/** Resume refusals saying the session was ended on purpose: logging in again would kick the device that took over. */
const ENDED_CODES = [40104, 41000, 41001, 41005];

/** Live engines, so the duet-pusher/duet-player components can hand their events to the right one. */
const ENGINES = new Set<DuetEngine>();

/**
 * Passes a component's event to the engine bound (initContext) to the page that holds the
 * component, or, when that is unknown, to every live engine (only one that publishes or plays
 * `id` acts).
 */
export function routeComponentEvent(kind: "state" | "net" | "volume", id: string, event: any, owner?: object): void {
  const all = [...ENGINES];
  const bound = all.filter((e) => owner !== undefined && e.boundTo(owner));
  for (const engine of bound.length > 0 ? bound : all) {
    if (kind === "state") engine.updatePlayerState(id, event);
    else if (kind === "net") engine.updatePlayerNetStatus(id, event);
    else engine.updateAudioVolumeNotify(id, event);
  }
}

function isNonEmptyString(v: unknown): v is string {
  return typeof v === "string" && v.length > 0;
}

function now(): number {
  return Date.now();
}

export class DuetEngine {
  private readonly servers: string[];
  private serverIndex = 0;
  private readonly emitter: Emitter;
  private readonly logger: Logger;
  private conn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private session: { sessionID: string; resumeToken: string } | undefined;
  private multiRoom = false;
  private readonly rooms = new Map<string, Room>();
  private readonly streams: StreamStates;
  private binding: PageBinding | undefined;
  private readonly retry: Retrier;
  private pendingLogins = 0;
  /** Requests made while disconnected, sent once the session is back. */
  private stoppedWhileAway = new Set<string>();
  private leftWhileAway = new Set<string>();
  private networkHandler: ((res: { isConnected: boolean }) => void) | undefined;
  private showHandler: (() => void) | undefined;
  private destroyed = false;

  constructor(
    readonly appID: number,
    server: string | string[],
  ) {
    if (typeof appID !== "number" || !Number.isInteger(appID) || appID <= 0 || appID > 0xffffffff) {
      throw new Error(`DuetEngine: appID must be the app's numeric AppID (a positive integer), got ${JSON.stringify(appID)}`);
    }
    const servers = (Array.isArray(server) ? server : [server]).filter(isNonEmptyString);
    if (servers.length === 0) {
      throw new Error('DuetEngine: server must be the signaling address, e.g. "wss://rtc.example.com/ws"');
    }
    for (const s of servers) {
      if (!/^wss?:\/\/[^/]+/.test(s)) {
        throw new Error(`DuetEngine: server "${s}" is not a ws:// or wss:// address`);
      }
    }
    this.servers = servers;
    this.logger = new Logger(logURLFor(servers[0]), { appID, sdkVersion: VERSION, deviceID: deviceID() }, now);
    this.emitter = new Emitter((event, err) => this.logger.error(`a ${event} handler threw: ${describe(err)}`));
    this.streams = new StreamStates(this.emitter, this.logger);
    this.retry = new Retrier(RECONNECT_WINDOW_MS, now, (run) => this.reconnectOnce(run), () => this.reconnectFailed());
    this.watchNetwork();
    ENGINES.add(this);
  }

  // ---- events -------------------------------------------------------------------------

  on<E extends EventName>(event: E, cb: DuetEvents[E]): boolean {
    return this.emitter.on(event, cb);
  }

  off<E extends EventName>(event: E, cb?: DuetEvents[E]): boolean {
    return this.emitter.off(event, cb);
  }

  // ---- rooms --------------------------------------------------------------------------

  enableMultiRoom(enable: boolean): boolean {
    if (this.rooms.size > 0) {
      this.logger.warn("enableMultiRoom must be called before loginRoom");
      return false;
    }
    this.multiRoom = !!enable;
    return true;
  }

  async loginRoom(roomID: string, token: string, user: ZegoUser, config?: ZegoRoomConfig): Promise<boolean> {
    if (this.destroyed) throw duetError(SdkError.DESTROYED, "the engine was destroyed");
    if (!isNonEmptyString(roomID)) throw duetError(SdkError.INVALID_ARGUMENT, "roomID must be a non-empty string");
    if (!isNonEmptyString(token)) throw duetError(SdkError.INVALID_ARGUMENT, "token must be a non-empty string");
    if (!user || !isNonEmptyString(user.userID)) {
      throw duetError(SdkError.INVALID_ARGUMENT, "user must be {userID, userName?} with a non-empty userID");
    }
    if (this.rooms.has(roomID)) throw duetError(40301, `already in room ${roomID}`);
    const cfg: ZegoRoomConfig = { userUpdate: !!(config && config.userUpdate), maxMemberCount: (config && config.maxMemberCount) || 0 };
    const who: ZegoUser = { userID: user.userID, userName: user.userName === undefined ? user.userID : String(user.userName) };
    this.roomState(roomID, "CONNECTING", "LOGINING", 0, "");
    this.pendingLogins++;
    try {
      // A login must not race a reconnect: it would replace the session being resumed.
      if (this.retry.retrying) {
        this.retry.soon();
        await this.retry.settled();
      }
      const conn = await this.connection();
      const reply = await conn.request("login", this.loginRequest(roomID, token, who, cfg));
      if (this.destroyed) throw duetError(SdkError.DESTROYED, "the engine was destroyed");
      this.session = { sessionID: reply.sessionID, resumeToken: reply.resumeToken };
      this.logger.identity.userID = who.userID;
      this.logger.identity.roomID = roomID;
      this.logger.identity.sessionID = reply.sessionID;
      const room = new Room(roomID, token, who, cfg);
      this.rooms.set(roomID, room);
      const diff = room.apply(reply as Snapshot);
      this.pendingLogins--;
      this.roomState(roomID, "CONNECTED", "LOGINED", 0, "");
      emitDiff(room, diff, this.emitter);
      this.logger.info(`logged into room ${roomID} as ${who.userID}`);
      return true;
    } catch (e) {
      this.pendingLogins--;
      const err = e as DuetError;
      this.logger.error(`login to room ${roomID} failed: ${err.code} ${err.msg}`);
      this.roomState(roomID, "DISCONNECTED", "LOGIN_FAILED", err.code, JSON.stringify({ msg: err.msg }));
      this.closeIfIdle();
      throw err;
    }
  }

  logoutRoom(roomID?: string): void {
    const targets = roomID === undefined ? [...this.rooms.keys()] : this.rooms.has(roomID) ? [roomID] : [];
    if (targets.length === 0) {
      if (roomID !== undefined) this.logger.warn(`logoutRoom: not in room ${roomID}`);
      return;
    }
    const sent: Promise<unknown>[] = [];
    for (const id of targets) {
      if (this.conn) sent.push(this.conn.request("logout", { roomID: id }).catch((err: DuetError) => this.quietWarn(`logout of ${id}`, err)));
      else this.leftWhileAway.add(id);
      this.leave(id, "LOGOUT", 0);
    }
    // Out of every room: close once the server has the logout, unless a new login came first.
    const conn = this.conn;
    Promise.all(sent).then(() => {
      if (this.conn === conn) this.closeIfIdle();
    });
  }

  renewToken(token: string, roomID?: string): boolean {
    if (!isNonEmptyString(token)) return false;
    const targets = roomID === undefined ? [...this.rooms.values()] : [this.rooms.get(roomID)].filter((r): r is Room => !!r);
    if (targets.length === 0) return false;
    for (const room of targets) {
      room.token = token;
      room.tokenUnsent = !this.conn;
    }
    const conn = this.conn;
    if (conn) {
      const data: { token: string; roomID?: string } = { token };
      if (roomID !== undefined) data.roomID = roomID;
      conn
        .request("renewToken", data)
        .then((reply) => {
          for (const room of targets) room.tokenExpire = reply.tokenExpire;
          this.logger.info("token renewed");
        })
        .catch((err: DuetError) => this.logger.error(`renewToken refused: ${err.code} ${err.msg}`));
    }
    return true;
  }

  // ---- messages -----------------------------------------------------------------------

  sendBroadcastMessage(roomID: string, message: string): Promise<ZegoResult> {
    return this.roomRequest(roomID, "sendBroadcastMessage", { roomID, message }, (r) => ({ errorCode: 0, messageID: r.messageID }));
  }

  sendBarrageMessage(roomID: string, message: string): Promise<ZegoResult> {
    return this.roomRequest(roomID, "sendBarrageMessage", { roomID, message }, (r) => ({ errorCode: 0, messageID: r.messageID }));
  }

  sendCustomCommand(roomID: string, command: string, toUserIDList: string[]): Promise<ZegoResult> {
    return this.roomRequest(roomID, "sendCustomCommand", { roomID, command, toUserIDList: toUserIDList || [] }, () => ({ errorCode: 0 }));
  }

  setRoomExtraInfo(roomID: string, key: string, value: string): Promise<ZegoResult> {
    return this.roomRequest(roomID, "setRoomExtraInfo", { roomID, key, value }, () => ({ errorCode: 0 }));
  }

  setStreamExtraInfo(streamID: string, extraInfo: string): Promise<ZegoResult> {
    const p = this.streams.publishing.get(streamID);
    if (!p) return Promise.resolve({ errorCode: 40304, extendedData: `not publishing ${streamID}` });
    p.extraInfo = extraInfo;
    return this.roomRequest(p.roomID, "setStreamExtraInfo", { streamID, extraInfo }, () => ({ errorCode: 0 }));
  }

  // ---- publishing and playing ---------------------------------------------------------

  async startPublishingStream(streamID: string, option?: PublishOption): Promise<{ streamID: string; url: string }> {
    if (typeof streamID !== "string" || !STREAM_ID.test(streamID)) {
      throw duetError(SdkError.INVALID_ARGUMENT, "streamID must be 1–256 characters of 0-9, A-Z, a-z, _ and -");
    }
    const opt = option || {};
    const roomID = opt.roomID !== undefined ? opt.roomID : this.rooms.size === 1 ? [...this.rooms.keys()][0] : undefined;
    if (roomID === undefined || !this.rooms.has(roomID)) {
      throw duetError(SdkError.NOT_LOGGED_IN, roomID === undefined ? "log into a room first (or name one in option.roomID)" : `not in room ${roomID}`);
    }
    const extraInfo = typeof opt.extraInfo === "string" ? opt.extraInfo : "";
    try {
      const conn = this.liveConnection();
      const reply = await conn.request("publish", { roomID, streamID, extraInfo });
      const urls = (reply.urls && reply.urls.length ? reply.urls : [reply.url]).map((u: string) => withParams(u, opt.streamParams));
      const previous = this.streams.publishing.get(streamID);
      this.streams.publishing.set(streamID, {
        roomID,
        extraInfo,
        urls,
        next: 0,
        state: previous ? previous.state : "NO_PUBLISH",
        errorCode: 0,
      });
      this.logger.info(`publishing ${streamID} in room ${roomID}`);
      return { streamID, url: urls[0] };
    } catch (e) {
      const err = e as DuetError;
      this.logger.error(`publish ${streamID} refused: ${err.code} ${err.msg}`);
      this.emitter.emit("publisherStateUpdate", { streamID, state: "NO_PUBLISH", errorCode: err.code, extendedData: err.msg });
      throw err;
    }
  }

  stopPublishingStream(streamID: string): boolean {
    const p = this.streams.publishing.get(streamID);
    if (!p) return false;
    this.streams.publishing.delete(streamID);
    if (this.conn) this.conn.request("stopPublish", { streamID }).catch((err: DuetError) => this.quietWarn(`stopPublish ${streamID}`, err));
    else this.stoppedWhileAway.add(streamID);
    if (this.binding) this.binding.unbindPusher(streamID);
    if (p.state !== "NO_PUBLISH") this.emitter.emit("publisherStateUpdate", { streamID, state: "NO_PUBLISH", errorCode: 0, extendedData: "" });
    return true;
  }

  async startPlayingStream(streamID: string, option?: PlayOption): Promise<{ streamID: string; url: string }> {
    if (typeof streamID !== "string" || !STREAM_ID.test(streamID)) {
      throw duetError(SdkError.INVALID_ARGUMENT, "streamID must be 1–256 characters of 0-9, A-Z, a-z, _ and -");
    }
    if (this.rooms.size === 0) throw duetError(SdkError.NOT_LOGGED_IN, "log into a room first");
    const opt = option || {};
    this.streams.setPlayState(streamID, "PLAY_REQUESTING", 0);
    try {
      const reply = await this.liveConnection().request("play", { streamID });
      // BGP (the default) plays RTMP, the lowest-latency path of <live-player mode="RTC">;
      // CDN plays HTTP(S)-FLV, which passes proxies that only allow HTTP.
      const flv: string[] = [...(reply.urlsHttpsFLV || []), ...(reply.urlsFLV || [])];
      const url = withParams(opt.sourceType === "CDN" && flv.length > 0 ? flv[0] : reply.url, opt.streamParams);
      this.logger.info(`playing ${streamID}`);
      return { streamID, url };
    } catch (e) {
      const err = e as DuetError;
      this.logger.error(`play ${streamID} refused: ${err.code} ${err.msg}`);
      this.streams.setPlayState(streamID, "NO_PLAY", err.code);
      this.streams.playing.delete(streamID);
      throw err;
    }
  }

  stopPlayingStream(streamID: string): void {
    const p = this.streams.playing.get(streamID);
    this.streams.playing.delete(streamID);
    if (this.binding) this.binding.unbindPlayer(streamID);
    if (p && p.state !== "NO_PLAY") this.emitter.emit("playerStateUpdate", { streamID, state: "NO_PLAY", errorCode: 0, extendedData: "" });
  }

  getNextUrl(streamID: string): string {
    return this.streams.nextUrl(streamID);
  }

  // ---- WeChat component events --------------------------------------------------------

  updatePlayerState(id: string, event: { detail?: { code?: number } }): void {
    const code = event && event.detail ? Number(event.detail.code) : NaN;
    if (isFinite(code)) this.streams.componentState(id, code);
  }

  updatePlayerNetStatus(id: string, event: { detail?: { info?: Record<string, unknown> } }): void {
    const info = event && event.detail && event.detail.info;
    if (info && typeof info === "object") this.streams.netStatus(id, info);
  }

  updateAudioVolumeNotify(id: string, event: { detail?: { volume?: number } }): void {
    const volume = event && event.detail ? Number(event.detail.volume) : NaN;
    if (isFinite(volume)) this.streams.volume(id, volume);
  }

  // ---- component mode -----------------------------------------------------------------

  initContext(options: { wxContext: WxContext; pushAtr?: string; playAtr?: string }): void {
    const ctx = options && options.wxContext;
    if (!ctx || typeof ctx.setData !== "function") {
      this.logger.error("initContext: wxContext must be the Page or Component (this)");
      return;
    }
    this.binding = new PageBinding(ctx, options.pushAtr || "pusher", options.playAtr || "playerList");
    ctx.setData({ [this.binding.pushAtr]: {}, [this.binding.playAtr]: [] });
  }

  /** Whether `initContext` bound this engine to `page`. */
  boundTo(page: object): boolean {
    return !!this.binding && this.binding.page === page;
  }

  createPusher(attrs?: Partial<PusherAttributes>): DuetPusher | null {
    const binding = this.needBinding("createPusher");
    return binding ? binding.createPusher(this, attrs || {}) : null;
  }

  getPusherInstance(): DuetPusher | null {
    return (this.binding && this.binding.pusher) || null;
  }

  getPlayerInstance(streamID: string): DuetPlayer | null {
    const binding = this.needBinding("getPlayerInstance");
    return binding && isNonEmptyString(streamID) ? binding.player(this, streamID) : null;
  }

  setPusherAttributes(attrs: Partial<PusherAttributes>): boolean {
    return !!this.binding && this.binding.setPusherAttributes(attrs);
  }

  setPlayerAttributes(streamID: string, attrs: Partial<PlayerAttributes>): boolean {
    return !!this.binding && this.binding.setPlayerAttributes(streamID, attrs);
  }

  getPlayerList(streamID?: string): PlayerAttributes[] | PlayerAttributes | null {
    if (!this.binding) return streamID === undefined ? [] : null;
    return this.binding.listed(streamID);
  }

  mutePublishStreamVideo(mute: boolean): void {
    this.setPusherAttributes({ enableCamera: !mute });
  }

  mutePublishStreamAudio(mute: boolean): void {
    this.setPusherAttributes({ enableMic: !mute });
  }

  mutePlayStreamVideo(streamID: string, mute: boolean): void {
    this.setPlayerAttributes(streamID, { muteVideo: !!mute });
  }

  mutePlayStreamAudio(streamID: string, mute: boolean): void {
    this.setPlayerAttributes(streamID, { muteAudio: !!mute });
  }

  // ---- features this server does not offer yet ---------------------------------------

  /** Has the server relay a stream this user publishes to an RTMP URL (a CDN's ingest). */
  addPublishCdnUrl(streamID: string, targetURL: string): Promise<ZegoResult> {
    return this.relayRequest("addPublishCdnUrl", streamID, targetURL);
  }

  removePublishCdnUrl(streamID: string, targetURL: string): Promise<ZegoResult> {
    return this.relayRequest("removePublishCdnUrl", streamID, targetURL);
  }

  private relayRequest(op: string, streamID: string, targetURL: string): Promise<ZegoResult> {
    const p = this.streams.publishing.get(streamID);
    if (!p) return Promise.resolve({ errorCode: 40304, extendedData: `not publishing ${streamID}` });
    if (typeof targetURL !== "string" || !/^rtmp:\/\//.test(targetURL)) {
      return Promise.resolve({ errorCode: SdkError.INVALID_ARGUMENT, extendedData: "the URL must start with rtmp://" });
    }
    return this.roomRequest(p.roomID, op, { streamID, targetURL }, () => ({ errorCode: 0 }));
  }

  startMixerTask(_config: object): Promise<ZegoResult> {
    return this.unsupported("startMixerTask");
  }

  stopMixerTask(taskID: string): Promise<ZegoResult> {
    return this.unsupported(`stopMixerTask(${taskID})`);
  }

  // ---- logs and system ----------------------------------------------------------------

  setLogConfig(config: LogConfig): boolean {
    const ok = !!config && this.logger.configure(config);
    if (!ok) this.logger.warn("setLogConfig: logLevel/remoteLogLevel must be debug|info|warn|error|report|disable and logURL http(s)://");
    return ok;
  }

  setDebugVerbose(enable: boolean): void {
    this.logger.verbose = !!enable;
  }

  getVersion(): string {
    return VERSION;
  }

  checkSystemRequirements(): Promise<{ result: boolean; code: number; msg: string; platform: string; SDKVersion: string }> {
    let info: { SDKVersion?: string; platform?: string } = {};
    try {
      info = wx.getSystemInfoSync() || {};
    } catch {
      // Treated as unknown below.
    }
    const sdk = info.SDKVersion || "0.0.0";
    const live = typeof wx.createLivePusherContext === "function" && typeof wx.createLivePlayerContext === "function";
    const recent = compareVersions(sdk, "2.10.0") >= 0;
    const result = live && recent;
    const msg = result ? "ok" : !live ? "this WeChat has no <live-pusher>/<live-player>" : `WeChat base library ${sdk} is older than 2.10.0`;
    return Promise.resolve({ result, code: result ? 0 : SdkError.NOT_SUPPORTED, msg, platform: info.platform || "unknown", SDKVersion: sdk });
  }

  destroyEngine(): void {
    if (this.destroyed) return;
    this.logoutRoom();
    this.destroyed = true;
    ENGINES.delete(this);
    const w = wx as unknown as WxOptional;
    if (this.networkHandler && typeof w.offNetworkStatusChange === "function") w.offNetworkStatusChange(this.networkHandler);
    if (this.showHandler && typeof w.offAppShow === "function") w.offAppShow(this.showHandler);
    this.retry.stop();
    this.closeConnection();
    void this.logger.close();
    this.emitter.clear();
    this.binding = undefined;
  }

  // ---- internals: connection ----------------------------------------------------------

  private loginRequest(roomID: string, token: string, user: ZegoUser, cfg: ZegoRoomConfig): object {
    return {
      protocol: PROTOCOL,
      appID: this.appID,
      roomID,
      token,
      user,
      userUpdate: cfg.userUpdate,
      maxMemberCount: cfg.maxMemberCount,
      multiRoom: this.multiRoom,
    };
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
    let last: DuetError = duetError(SdkError.NETWORK_UNREACHABLE, "no server");
    for (let i = 0; i < this.servers.length; i++) {
      const index = (this.serverIndex + i) % this.servers.length;
      const conn: Connection = new Connection(this.servers[index], this.logger, {
        push: (name, seq, data) => this.onPush(conn, name, seq, data),
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
        this.logger.info(`connected to ${this.servers[index]}`);
        return conn;
      } catch (e) {
        last = e as DuetError;
        this.logger.warn(last.msg);
      }
    }
    throw last;
  }

  private liveConnection(): Connection {
    if (!this.conn) throw duetError(SdkError.CONNECTION_LOST, "not connected to the server (reconnecting)");
    return this.conn;
  }

  /** Closes the socket when nothing needs it: no room, no login under way, no reconnect. */
  private closeIfIdle(): void {
    if (this.rooms.size === 0 && this.pendingLogins === 0 && !this.retry.retrying) this.closeConnection();
  }

  private closeConnection(): void {
    const conn = this.conn;
    this.conn = undefined;
    if (conn) conn.close();
    if (this.rooms.size === 0) this.session = undefined;
  }

  private onEnded(conn: Connection, why: Ended): void {
    if (conn !== this.conn) return;
    this.conn = undefined;
    this.logger.warn(`connection ended: ${why.reason} (${why.code})`);
    if (this.destroyed || this.rooms.size === 0) return;
    if (TERMINAL_CLOSE.indexOf(why.reason) >= 0) {
      for (const id of [...this.rooms.keys()]) this.leave(id, "KICKOUT", why.code);
      this.session = undefined;
      return;
    }
    this.startReconnecting(why.code);
  }

  private startReconnecting(code: number): void {
    if (this.retry.retrying) return;
    for (const id of this.rooms.keys()) this.roomState(id, "CONNECTING", "RECONNECTING", code, "");
    this.retry.start();
  }

  /** One attempt to get back into every room (run `run` of the retrier). */
  private async reconnectOnce(run: number): Promise<Outcome> {
    if (this.destroyed) return "done";
    try {
      const conn = await this.connection();
      if (!this.retry.current(run)) return this.gone();
      const outcome = this.session ? await this.tryResume(conn) : "lost";
      if (outcome === "ended" || !this.retry.current(run)) {
        this.retry.stop();
        return this.gone();
      }
      const missing = outcome === "lost" ? [...this.rooms.values()] : outcome;
      if (missing.length > 0) await this.loginAgain(conn, missing);
      if (!this.retry.current(run)) return this.gone();
      this.retry.stop();
      for (const id of this.rooms.keys()) this.roomState(id, "CONNECTED", "RECONNECTED", 0, "");
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
    for (const id of [...this.rooms.keys()]) this.leave(id, "RECONNECT_FAILED", SdkError.RECONNECT_FAILED);
    this.closeIfIdle();
  }

  /**
   * Resumes the session on a new connection. Returns the rooms the server no longer has this
   * session in (to log into again), "lost" when the session is gone, or "ended" when it was
   * ended on purpose while away (kicked out, room closed, token expired).
   */
  private async tryResume(conn: Connection): Promise<Room[] | "lost" | "ended"> {
    const session = this.session!;
    const rooms: Record<string, number> = {};
    for (const room of this.rooms.values()) rooms[room.roomID] = room.seq;
    let reply: any;
    try {
      reply = await conn.request("resume", { ...session, rooms });
    } catch (e) {
      const err = e as DuetError;
      if (ENDED_CODES.indexOf(err.code) >= 0) {
        this.logger.warn(`the session was ended while away: ${err.code} ${err.msg}`);
        this.session = undefined;
        for (const id of [...this.rooms.keys()]) this.leave(id, "KICKOUT", err.code);
        return "ended";
      }
      if (err.code !== 40306) throw err;
      this.logger.warn("the session could not be resumed; logging in again");
      this.session = undefined;
      return "lost";
    }
    const held = new Set<string>();
    for (const r of reply.rooms || []) {
      held.add(r.roomID);
      const room = this.rooms.get(r.roomID);
      if (room && typeof r.onlineCount === "number" && r.onlineCount !== room.onlineCount) {
        room.onlineCount = r.onlineCount;
        this.emitter.emit("roomOnlineUserCountUpdate", room.roomID, r.onlineCount);
      }
    }
    this.logger.info(`session ${session.sessionID} resumed`);
    this.sendWhatWaited(conn, held);
    return [...this.rooms.values()].filter((room) => !held.has(room.roomID));
  }

  /** What the page asked for while disconnected: logouts, stopped streams, new tokens. */
  private sendWhatWaited(conn: Connection, held: Set<string>): void {
    const quiet = (what: string) => (err: DuetError) => this.quietWarn(what, err);
    for (const id of held) {
      if (!this.rooms.has(id)) conn.request("logout", { roomID: id }).catch(quiet(`logout of ${id}`));
    }
    this.leftWhileAway.clear();
    for (const streamID of this.stoppedWhileAway) {
      conn.request("stopPublish", { streamID }).catch(quiet(`stopPublish ${streamID}`));
    }
    this.stoppedWhileAway.clear();
    for (const room of this.rooms.values()) {
      if (!room.tokenUnsent || !held.has(room.roomID)) continue;
      room.tokenUnsent = false;
      conn.request("renewToken", { token: room.token, roomID: room.roomID }).catch(quiet(`renewToken of ${room.roomID}`));
    }
  }

  /** Logs into rooms again after the session lost them, reporting what changed. */
  private async loginAgain(conn: Connection, rooms: Room[]): Promise<void> {
    for (const room of rooms) {
      if (!this.rooms.has(room.roomID)) continue;
      let reply: any;
      try {
        reply = await conn.request("login", this.loginRequest(room.roomID, room.token, room.user, room.config));
      } catch (e) {
        const err = e as DuetError;
        if (err.code >= 60000) throw err; // the connection, not the login: try again later
        this.logger.error(`cannot log into ${room.roomID} again: ${err.code} ${err.msg}`);
        this.leave(room.roomID, "RECONNECT_FAILED", err.code);
        continue;
      }
      this.session = { sessionID: reply.sessionID, resumeToken: reply.resumeToken };
      this.logger.identity.sessionID = reply.sessionID;
      room.tokenUnsent = false;
      emitDiff(room, room.apply(reply as Snapshot), this.emitter);
      await this.publishAgain(conn, room.roomID);
    }
  }

  /** A new session holds no reservations: take back the streams this user was publishing. */
  private async publishAgain(conn: Connection, roomID: string): Promise<void> {
    for (const [streamID, p] of this.streams.publishing) {
      if (p.roomID !== roomID) continue;
      try {
        await conn.request("publish", { roomID, streamID, extraInfo: p.extraInfo });
      } catch (e) {
        const err = e as DuetError;
        this.streams.publishing.delete(streamID);
        this.streams.setPublishState(streamID, "NO_PUBLISH", err.code, err.msg);
      }
    }
  }

  private watchNetwork(): void {
    this.networkHandler = (res) => {
      if (!this.destroyed && res && res.isConnected) this.retry.soon();
    };
    this.showHandler = () => {
      if (!this.destroyed) this.retry.soon();
    };
    try {
      wx.onNetworkStatusChange(this.networkHandler);
      wx.onAppShow(this.showHandler);
    } catch {
      // Not every host has these; reconnecting then relies on the backoff alone.
    }
  }

  // ---- internals: pushes --------------------------------------------------------------

  private onPush(conn: Connection, name: string, seq: number | undefined, data: any): void {
    if (conn !== this.conn || this.destroyed) return;
    const room = typeof data.roomID === "string" ? this.rooms.get(data.roomID) : undefined;
    if (seq !== undefined && (!room || !room.accept(seq))) return;
    if (room && applyRoomEvent(room, name, data, this.emitter)) return;
    switch (name) {
      case "publisherStateUpdate":
        if (this.streams.publishing.has(data.streamID)) {
          this.streams.setPublishState(data.streamID, data.state, data.errorCode || 0, "");
        }
        return;
      case "tokenWillExpire":
        if (room) {
          this.logger.warn(`the token of room ${room.roomID} expires at ${data.tokenExpire}; call renewToken`);
          this.emitter.emit("tokenWillExpire", room.roomID);
        }
        return;
      case "kickout":
        if (room) {
          this.logger.warn(`kicked out of room ${room.roomID}: ${data.reason} (${data.code})`);
          this.leave(room.roomID, "KICKOUT", data.code);
          this.closeIfIdle();
        }
        return;
      case "roomResync":
        if (room) emitDiff(room, room.apply(data as Snapshot), this.emitter);
        return;
      case "close":
      case "hello":
        return;
      default:
        if (!room) this.logger.debug(`ignored push ${name}`);
    }
  }

  // ---- internals: state ---------------------------------------------------------------

  private roomState(roomID: string, state: "DISCONNECTED" | "CONNECTING" | "CONNECTED", reason: Parameters<DuetEvents["roomStateChanged"]>[1], code: number, extended: string): void {
    this.emitter.emit("roomStateUpdate", roomID, state, code, extended);
    this.emitter.emit("roomStateChanged", roomID, reason, code, extended);
  }

  /** Forgets a room and what this user published there, and says so. */
  private leave(roomID: string, reason: "LOGOUT" | "KICKOUT" | "RECONNECT_FAILED", code: number): void {
    if (!this.rooms.delete(roomID)) return;
    for (const [streamID, p] of [...this.streams.publishing]) {
      if (p.roomID !== roomID) continue;
      this.streams.publishing.delete(streamID);
      if (this.binding) this.binding.unbindPusher(streamID);
      if (p.state !== "NO_PUBLISH") this.emitter.emit("publisherStateUpdate", { streamID, state: "NO_PUBLISH", errorCode: code, extendedData: "" });
    }
    if (this.rooms.size === 0) {
      for (const streamID of [...this.streams.playing.keys()]) this.stopPlayingStream(streamID);
      this.retry.stop();
    }
    this.roomState(roomID, "DISCONNECTED", reason, code, "");
  }

  /** A failed fire-and-forget request; one cancelled by closing the connection is expected. */
  private quietWarn(what: string, err: DuetError): void {
    if (err.code === SdkError.CANCELLED) this.logger.debug(`${what}: ${err.msg}`);
    else this.logger.warn(`${what}: ${err.msg}`);
  }

  private roomRequest(roomID: string, op: string, data: object, ok: (reply: any) => ZegoResult): Promise<ZegoResult> {
    if (!this.rooms.has(roomID)) return Promise.resolve({ errorCode: SdkError.NOT_LOGGED_IN, extendedData: `not in room ${roomID}` });
    if (!this.conn) return Promise.resolve({ errorCode: SdkError.CONNECTION_LOST, extendedData: "reconnecting; try again" });
    return this.conn.request(op, data).then(ok, (err: DuetError) => ({ errorCode: err.code, extendedData: err.msg }));
  }

  private needBinding(api: string): PageBinding | undefined {
    if (!this.binding) this.logger.error(`${api}: call initContext({wxContext: this, pushAtr, playAtr}) first`);
    return this.binding;
  }

  private unsupported(what: string): Promise<ZegoResult> {
    this.logger.warn(`${what}: this Duet server does not offer it yet`);
    return Promise.resolve({ errorCode: SdkError.NOT_SUPPORTED, extendedData: `${what} is not supported by this Duet server yet` });
  }
}

function withParams(url: string, params: string | undefined): string {
  if (!params) return url;
  const extra = params.replace(/^[?&]+/, "");
  return extra ? `${url}${url.indexOf("?") >= 0 ? "&" : "?"}${extra}` : url;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] || 0) - (pb[i] || 0);
    if (d !== 0) return d > 0 ? 1 : -1;
  }
  return 0;
}

function deviceID(): string {
  try {
    const known = wx.getStorageSync("duet_device_id");
    if (typeof known === "string" && known) return known;
    const id = `d${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
    wx.setStorageSync("duet_device_id", id);
    return id;
  } catch {
    return "unknown";
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.message}\n${err.stack || ""}` : String(err);
}
