/**
 * The public API every Duet SDK offers the same way, whatever its platform: events, rooms,
 * messages and extra info, relays to a CDN, mixer tasks, logs and version. Each
 * platform's engine class (the mini-program's `DuetEngine`, the browser's) extends it with
 * the platform's media; `Events` is the platform's event map (the core's, or with its own
 * shapes and additions).
 */

import { EngineCore, VERSION } from "./engine_core";
import type { Platform } from "./platform";
import type { EventName, LogConfig, ZegoMixStreamConfig, ZegoResult, ZegoRoomConfig, ZegoUser } from "./types";

type Handlers<Events> = { [K in keyof Events]: (...args: any[]) => void };

export class SharedEngine<Events extends Handlers<Events>> {
  protected readonly core: EngineCore;

  constructor(
    readonly appID: number,
    server: string | string[],
    platform: Platform,
    platformEvents: readonly string[] = [],
  ) {
    this.core = new EngineCore(appID, server, platform, platformEvents);
  }

  // ---- events -------------------------------------------------------------------------

  on<E extends keyof Events & string>(event: E, cb: Events[E]): boolean {
    return this.core.emitter.on(event as EventName, cb as never);
  }

  off<E extends keyof Events & string>(event: E, cb?: Events[E]): boolean {
    return this.core.emitter.off(event as EventName, cb as never);
  }

  // ---- rooms and messages -------------------------------------------------------------

  enableMultiRoom(enable: boolean): boolean {
    return this.core.enableMultiRoom(enable);
  }

  loginRoom(roomID: string, token: string, user: ZegoUser, config?: ZegoRoomConfig): Promise<boolean> {
    return this.core.loginRoom(roomID, token, user, config);
  }

  logoutRoom(roomID?: string): void {
    this.core.logoutRoom(roomID);
  }

  renewToken(token: string, roomID?: string): boolean {
    return this.core.renewToken(token, roomID);
  }

  sendBroadcastMessage(roomID: string, message: string): Promise<ZegoResult> {
    return this.core.sendBroadcastMessage(roomID, message);
  }

  sendBarrageMessage(roomID: string, message: string): Promise<ZegoResult> {
    return this.core.sendBarrageMessage(roomID, message);
  }

  sendCustomCommand(roomID: string, command: string, toUserIDList: string[]): Promise<ZegoResult> {
    return this.core.sendCustomCommand(roomID, command, toUserIDList);
  }

  setRoomExtraInfo(roomID: string, key: string, value: string): Promise<ZegoResult> {
    return this.core.setRoomExtraInfo(roomID, key, value);
  }

  setStreamExtraInfo(streamID: string, extraInfo: string): Promise<ZegoResult> {
    return this.core.setStreamExtraInfo(streamID, extraInfo);
  }

  // ---- relays and mixing --------------------------------------------------------------

  /** Has the server relay a stream this user publishes to an RTMP URL (a CDN's ingest). */
  addPublishCdnUrl(streamID: string, targetURL: string): Promise<ZegoResult> {
    return this.core.relay("addPublishCdnUrl", streamID, targetURL);
  }

  removePublishCdnUrl(streamID: string, targetURL: string): Promise<ZegoResult> {
    return this.core.relay("removePublishCdnUrl", streamID, targetURL);
  }

  /**
   * Has the server mix streams into output streams of the room (announced as published by
   * `$mixer:{taskID}`) and rtmp:// URLs, or change the running task with the same taskID
   * (docs/mixing.md). Resolves `{errorCode: 0, extendedData}` with the reply
   * `{taskID, outputList: [{streamID} | {url}]}` as JSON, or the refusal's code and message.
   */
  startMixerTask(config: ZegoMixStreamConfig): Promise<ZegoResult> {
    return this.core.startMixerTask(config);
  }

  /** Stops a mixer task of the app (its output streams end): `{errorCode}`, 40403 when none runs. */
  stopMixerTask(taskID: string): Promise<ZegoResult> {
    return this.core.stopMixerTask(taskID);
  }

  // ---- logs and version ---------------------------------------------------------------

  setLogConfig(config: LogConfig): boolean {
    return this.core.setLogConfig(config);
  }

  setDebugVerbose(enable: boolean): void {
    this.core.logger.verbose = !!enable;
  }

  getVersion(): string {
    return VERSION;
  }
}
