/**
 * Duet's SDK for Web pages (npm `duet-web`, served by `duet serve` at `/sdk/duet-web.js`). The
 * engine is exported as `DuetEngine` and, so pages written for the hosted cloud's Web SDK run
 * unchanged, as `ZegoExpressEngine`.
 */

import { DuetEngine, VERSION } from "./engine";

export { DuetEngine, VERSION };
export const ZegoExpressEngine = DuetEngine;
export { SdkError } from "../../miniprogram/src/core/errors";
export type { WebEvents, WebEventName, WebPlayOption, WebPublishOption } from "./engine";
export type { LocalStreamConfig, CameraOptions, ScreenOptions } from "./capture";
export type { WebPlayStats, WebPublishStats } from "./quality";
export type { DeviceInfo, DeviceInfos } from "./devices";
export type {
  ZegoUser,
  ZegoRoomConfig,
  ZegoStreamList,
  ZegoBroadcastMessageInfo,
  ZegoRoomExtraInfo,
  ZegoResult,
  ZegoMixStreamConfig,
  ZegoMixStreamInput,
  ZegoMixStreamOutput,
  ZegoMixStreamOutputConfig,
  RoomState,
  RoomStateChangedReason,
  UpdateType,
  PublisherState,
  PlayerState,
  PublisherStateResult,
  PlayerStateResult,
  LogConfig,
  LogLevel,
  DuetError,
} from "../../miniprogram/src/core/types";
