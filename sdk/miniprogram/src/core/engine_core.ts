/**
 * What every Duet SDK does whatever its platform: checks the arguments of the API calls,
 * announces logins, sends room messages, reserves and releases streams, asks for play URLs,
 * starts and stops mixer tasks, and holds the log, the events, where the engine is (presence.ts) and its session
 * (session.ts). A platform's public engine class wraps it and adds the platform's media.
 */

import { QualityReporter } from "./quality_report";
import { Emitter } from "./emitter";
import { duetError, SdkError } from "./errors";
import { deviceID, Logger, logURLFor } from "./logger";
import type { Platform } from "./platform";
import { Presence, withParams } from "./presence";
import type { Op, Reply, RequestData } from "./protocol";
import { ServerError } from "./protocol";
import { emitDiff } from "./room_events";
import { Session } from "./session";
import type {
  DuetError,
  LogConfig,
  PlayGrant,
  PlayOption,
  PublishGrant,
  PublishOption,
  ZegoMixStreamConfig,
  ZegoResult,
  ZegoRoomConfig,
  ZegoUser,
} from "./types";

export const VERSION = "0.1.0";

const STREAM_ID = /^[0-9A-Za-z_-]{1,256}$/;

function isNonEmptyString(v: unknown): v is string {
  return typeof v === "string" && v.length > 0;
}

/** The server's stream ID rule (docs/protocol.md): why `streamID` breaks it, or "" when it does not. */
export function streamIDProblem(streamID: unknown): string {
  return typeof streamID === "string" && STREAM_ID.test(streamID) ? "" : "streamID must be 1–256 characters of 0-9, A-Z, a-z, _ and -";
}

function checkStreamID(streamID: unknown): void {
  const problem = streamIDProblem(streamID);
  if (problem) throw duetError(SdkError.INVALID_ARGUMENT, problem);
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.message}\n${err.stack || ""}` : String(err);
}

export class EngineCore {
  readonly emitter: Emitter;
  readonly logger: Logger;
  readonly presence: Presence;
  private readonly session: Session;
  /** Sends the streams' measured quality to the server (`reportQuality`). */
  readonly quality: QualityReporter;
  private destroyed = false;

  constructor(appID: number, server: string | string[], platform: Platform, platformEvents: readonly string[] = []) {
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
    this.logger = new Logger(logURLFor(servers[0]), { appID, sdkVersion: VERSION, deviceID: deviceID(platform) }, () => Date.now(), platform);
    this.emitter = new Emitter((event, err) => this.logger.error(`a ${event} handler threw: ${describe(err)}`), platformEvents);
    this.presence = new Presence(this.emitter, this.logger);
    this.session = new Session({ appID, servers, platform, presence: this.presence, logger: this.logger });
    this.quality = new QualityReporter(this.emitter, this.presence, this.logger, () => this.session.live());
  }

  // ---- rooms --------------------------------------------------------------------------

  enableMultiRoom(enable: boolean): boolean {
    if (this.presence.rooms.size > 0) {
      this.logger.warn("enableMultiRoom must be called before loginRoom");
      return false;
    }
    this.session.multiRoom = !!enable;
    return true;
  }

  async loginRoom(roomID: string, token: string, user: ZegoUser, config?: ZegoRoomConfig): Promise<boolean> {
    if (this.destroyed) throw duetError(SdkError.DESTROYED, "the engine was destroyed");
    if (!isNonEmptyString(roomID)) throw duetError(SdkError.INVALID_ARGUMENT, "roomID must be a non-empty string");
    if (!isNonEmptyString(token)) throw duetError(SdkError.INVALID_ARGUMENT, "token must be a non-empty string");
    if (!user || !isNonEmptyString(user.userID)) {
      throw duetError(SdkError.INVALID_ARGUMENT, "user must be {userID, userName?} with a non-empty userID");
    }
    if (this.presence.rooms.has(roomID)) throw duetError(ServerError.already_in_room, `already in room ${roomID}`);
    const cfg: ZegoRoomConfig = { userUpdate: !!(config && config.userUpdate), maxMemberCount: (config && config.maxMemberCount) || 0 };
    const who: ZegoUser = { userID: user.userID, userName: user.userName === undefined ? user.userID : String(user.userName) };
    this.presence.roomState(roomID, "CONNECTING", "LOGINING", 0, "");
    let entered;
    try {
      entered = await this.session.login(roomID, token, who, cfg);
    } catch (e) {
      const err = e as DuetError;
      this.logger.error(`login to room ${roomID} failed: ${err.code} ${err.msg}`);
      this.presence.roomState(roomID, "DISCONNECTED", "LOGIN_FAILED", err.code, JSON.stringify({ msg: err.msg }));
      this.session.closeIfIdle();
      throw err;
    }
    this.presence.roomState(roomID, "CONNECTED", "LOGINED", 0, "");
    emitDiff(entered.room, entered.diff, this.emitter);
    this.logger.info(`logged into room ${roomID} as ${who.userID}`);
    return true;
  }

  logoutRoom(roomID?: string): void {
    const rooms = this.presence.rooms;
    const targets = roomID === undefined ? [...rooms.keys()] : rooms.has(roomID) ? [roomID] : [];
    if (targets.length === 0) {
      if (roomID !== undefined) this.logger.warn(`logoutRoom: not in room ${roomID}`);
      return;
    }
    this.session.logout(targets);
  }

  renewToken(token: string, roomID?: string): boolean {
    if (!isNonEmptyString(token)) return false;
    const rooms = this.presence.rooms;
    const targets = roomID === undefined ? [...rooms.values()] : rooms.has(roomID) ? [rooms.get(roomID)!] : [];
    if (targets.length === 0) return false;
    this.session.renewToken(targets, token, roomID);
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
    const p = this.presence.streams.publishing.get(streamID);
    if (!p) return Promise.resolve({ errorCode: ServerError.stream_not_owned, extendedData: `not publishing ${streamID}` });
    p.extraInfo = extraInfo;
    return this.roomRequest(p.roomID, "setStreamExtraInfo", { streamID, extraInfo }, () => ({ errorCode: 0 }));
  }

  // ---- publishing and playing ---------------------------------------------------------

  /** Reserves `streamID` and resolves with its push URL; while reconnecting, once back. */
  async startPublishingStream(streamID: string, option?: PublishOption): Promise<PublishGrant> {
    checkStreamID(streamID);
    const opt = option || {};
    const rooms = this.presence.rooms;
    const roomID = opt.roomID !== undefined ? opt.roomID : rooms.size === 1 ? [...rooms.keys()][0] : undefined;
    if (roomID === undefined || !rooms.has(roomID)) {
      throw duetError(SdkError.NOT_LOGGED_IN, roomID === undefined ? "log into a room first (or name one in option.roomID)" : `not in room ${roomID}`);
    }
    const extraInfo = typeof opt.extraInfo === "string" ? opt.extraInfo : "";
    try {
      return await this.session.publish(roomID, streamID, extraInfo, opt.streamParams);
    } catch (e) {
      const err = e as DuetError;
      this.logger.error(`publish ${streamID} refused: ${err.code} ${err.msg}`);
      this.emitter.emit("publisherStateUpdate", { streamID, state: "NO_PUBLISH", errorCode: err.code, extendedData: err.msg });
      throw err;
    }
  }

  stopPublishingStream(streamID: string): boolean {
    const p = this.presence.unpublish(streamID, 0);
    const queued = this.session.cancelQueuedPublish(streamID);
    if (p) this.session.stopPublish(p.roomID, streamID);
    else if (queued && queued.cancelled) this.session.stopPublish(queued.roomID, streamID);
    return !!(p || queued);
  }

  async startPlayingStream(streamID: string, option?: PlayOption): Promise<PlayGrant> {
    checkStreamID(streamID);
    if (this.presence.rooms.size === 0) throw duetError(SdkError.NOT_LOGGED_IN, "log into a room first");
    const opt = option || {};
    const streams = this.presence.streams;
    streams.setPlayState(streamID, "PLAY_REQUESTING", 0);
    try {
      const reply = await this.liveConnection().request("play", { streamID });
      // BGP (the default) plays RTMP, the lowest-latency path of <live-player mode="RTC">;
      // CDN plays HTTP(S)-FLV, which passes proxies that only allow HTTP.
      const flv: string[] = [...(reply.urlsHttpsFLV || []), ...(reply.urlsFLV || [])];
      const url = withParams(opt.sourceType === "CDN" && flv.length > 0 ? flv[0] : reply.url, opt.streamParams);
      this.logger.info(`playing ${streamID}`);
      return { streamID, url, whepURL: reply.whepURL ? withParams(reply.whepURL, opt.streamParams) : "" };
    } catch (e) {
      const err = e as DuetError;
      this.logger.error(`play ${streamID} refused: ${err.code} ${err.msg}`);
      streams.setPlayState(streamID, "NO_PLAY", err.code);
      streams.playing.delete(streamID);
      throw err;
    }
  }

  /**
   * A fresh grant of a stream this engine publishes (its URLs signed again): the reservation
   * is renewed on the live connection. Undefined when it is not published or not connected.
   */
  async renewPublishGrant(streamID: string): Promise<PublishGrant | undefined> {
    const p = this.presence.streams.publishing.get(streamID);
    const conn = this.session.live();
    if (!p || !conn) return undefined;
    return this.presence.publish(conn, p.roomID, streamID, p.extraInfo, p.streamParams);
  }

  /** A fresh play grant of `streamID` (its URLs signed again), without touching its state. */
  async renewPlayGrant(streamID: string, streamParams?: string): Promise<PlayGrant | undefined> {
    const conn = this.session.live();
    if (!conn || !this.presence.streams.playing.has(streamID)) return undefined;
    const reply = await conn.request("play", { streamID });
    return { streamID, url: reply.url, whepURL: reply.whepURL ? withParams(reply.whepURL, streamParams) : "" };
  }

  stopPlayingStream(streamID: string): void {
    this.presence.stopPlaying(streamID);
  }

  getNextUrl(streamID: string): string {
    return this.presence.streams.nextUrl(streamID);
  }

  /** Has the server relay a stream this user publishes to an RTMP URL (a CDN's ingest), or stop that. */
  relay(op: "addPublishCdnUrl" | "removePublishCdnUrl", streamID: string, targetURL: string): Promise<ZegoResult> {
    const p = this.presence.streams.publishing.get(streamID);
    if (!p) return Promise.resolve({ errorCode: ServerError.stream_not_owned, extendedData: `not publishing ${streamID}` });
    if (typeof targetURL !== "string" || !/^rtmp:\/\//.test(targetURL)) {
      return Promise.resolve({ errorCode: SdkError.INVALID_ARGUMENT, extendedData: "the URL must start with rtmp://" });
    }
    return this.roomRequest(p.roomID, op, { streamID, targetURL }, () => ({ errorCode: 0 }));
  }

  // ---- mixing -------------------------------------------------------------------------

  /**
   * Has the server start a mixer task (docs/mixing.md), or change the running one with the same
   * taskID. The config goes as the page gave it (the server reads and checks it); success
   * resolves with the reply (`{taskID, outputList}`) as JSON in `extendedData`. Without
   * `config.roomID` the server takes the engine's one room.
   */
  startMixerTask(config: ZegoMixStreamConfig): Promise<ZegoResult> {
    if (!config || typeof config !== "object" || Array.isArray(config) || !isNonEmptyString(config.taskID)) {
      return Promise.resolve({ errorCode: SdkError.INVALID_ARGUMENT, extendedData: "config must be an object with a non-empty string taskID" });
    }
    const asJSON = (reply: Reply<"startMixerTask">): ZegoResult => ({ errorCode: 0, extendedData: JSON.stringify(reply) });
    if (config.roomID !== undefined) {
      if (!isNonEmptyString(config.roomID)) {
        return Promise.resolve({ errorCode: SdkError.INVALID_ARGUMENT, extendedData: "config.roomID must be a non-empty string when given" });
      }
      return this.roomRequest(config.roomID, "startMixerTask", config, asJSON);
    }
    if (this.presence.rooms.size === 0) return Promise.resolve({ errorCode: SdkError.NOT_LOGGED_IN, extendedData: "log into a room first" });
    return this.request("startMixerTask", config, asJSON);
  }

  /** Has the server stop a mixer task of the app (its output streams end). */
  stopMixerTask(taskID: string): Promise<ZegoResult> {
    if (!isNonEmptyString(taskID)) return Promise.resolve({ errorCode: SdkError.INVALID_ARGUMENT, extendedData: "taskID must be a non-empty string" });
    if (this.presence.rooms.size === 0) return Promise.resolve({ errorCode: SdkError.NOT_LOGGED_IN, extendedData: "log into a room first" });
    return this.request("stopMixerTask", { taskID }, () => ({ errorCode: 0 }));
  }

  // ---- logs and life ------------------------------------------------------------------

  setLogConfig(config: LogConfig): boolean {
    const ok = !!config && this.logger.configure(config);
    if (!ok) this.logger.warn("setLogConfig: logLevel/remoteLogLevel must be debug|info|warn|error|report|disable and logURL http(s)://");
    return ok;
  }

  /** Logs out of every room, closes the socket, flushes the logs and drops every handler. */
  destroy(): void {
    if (this.destroyed) return;
    this.logoutRoom();
    this.destroyed = true;
    this.session.destroy();
    this.quality.stop();
    void this.logger.close();
    this.emitter.clear();
    this.presence.media = undefined;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  private liveConnection() {
    const conn = this.session.live();
    if (!conn) throw duetError(SdkError.CONNECTION_LOST, "not connected to the server (reconnecting)");
    return conn;
  }

  private roomRequest<O extends Op>(roomID: string, op: O, data: RequestData<O>, ok: (reply: Reply<O>) => ZegoResult): Promise<ZegoResult> {
    if (!this.presence.rooms.has(roomID)) return Promise.resolve({ errorCode: SdkError.NOT_LOGGED_IN, extendedData: `not in room ${roomID}` });
    return this.request(op, data, ok);
  }

  /**
   * A request of a logged-in session, answered as `ZegoResult`: `ok` of the reply, or the
   * refusal's code and message. It does not wait for a reconnect: CONNECTION_LOST meanwhile.
   */
  private request<O extends Op>(op: O, data: RequestData<O>, ok: (reply: Reply<O>) => ZegoResult): Promise<ZegoResult> {
    const conn = this.session.live();
    if (!conn) return Promise.resolve({ errorCode: SdkError.CONNECTION_LOST, extendedData: "reconnecting; try again" });
    return conn.request(op, data).then(ok, (err: DuetError) => ({ errorCode: err.code, extendedData: err.msg }));
  }
}
