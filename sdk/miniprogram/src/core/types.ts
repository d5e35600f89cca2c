/** The public shapes of the SDK: users, streams, events and options (COMPAT.md §1). */

export interface ZegoUser {
  userID: string;
  userName?: string;
}

export interface ZegoRoomConfig {
  userUpdate?: boolean;
  maxMemberCount?: number;
}

export interface ZegoStreamList {
  streamID: string;
  user: ZegoUser;
  extraInfo: string;
  urlsFLV: string[];
  urlsRTMP: string[];
  urlsHLS: string[];
  urlsHttpsFLV: string[];
  urlsHttpsHLS: string[];
}

export interface ZegoRoomExtraInfo {
  key: string;
  value: string;
  updateUser: ZegoUser;
  updateTime: number;
}

export interface ZegoBroadcastMessageInfo {
  fromUser: ZegoUser;
  message: string;
  sendTime: number;
  messageID: number;
}

export type RoomState = "DISCONNECTED" | "CONNECTING" | "CONNECTED";
export type RoomStateChangedReason =
  | "LOGINING"
  | "LOGINED"
  | "LOGIN_FAILED"
  | "RECONNECTING"
  | "RECONNECTED"
  | "RECONNECT_FAILED"
  | "KICKOUT"
  | "LOGOUT"
  | "LOGOUT_FAILED";
export type UpdateType = "ADD" | "DELETE";
export type PublisherState = "NO_PUBLISH" | "PUBLISH_REQUESTING" | "PUBLISHING";
export type PlayerState = "NO_PLAY" | "PLAY_REQUESTING" | "PLAYING";

export interface PublisherStateResult {
  streamID: string;
  state: PublisherState;
  errorCode: number;
  extendedData: string;
}

export interface PlayerStateResult {
  streamID: string;
  state: PlayerState;
  errorCode: number;
  extendedData: string;
}

export interface QualityStats {
  video: {
    videoBitrate: number;
    videoFPS: number;
    frameWidth: number;
    frameHeight: number;
    videoGOP: number;
    videoCache?: number;
  };
  audio: { audioBitrate: number; audioCache?: number; soundLevel?: number };
  netSpeed: number;
  netJitter: number;
  avPlayInterval?: number;
  avRecvInterval?: number;
}

/** Every event `on` accepts, with its callback's arguments. */
export interface DuetEvents {
  roomStateUpdate: (roomID: string, state: RoomState, errorCode: number, extendedData: string) => void;
  roomStateChanged: (roomID: string, reason: RoomStateChangedReason, errorCode: number, extendedData: string) => void;
  roomUserUpdate: (roomID: string, updateType: UpdateType, userList: ZegoUser[]) => void;
  roomOnlineUserCountUpdate: (roomID: string, count: number) => void;
  roomStreamUpdate: (roomID: string, updateType: UpdateType, streamList: ZegoStreamList[], extendedData: string) => void;
  streamExtraInfoUpdate: (roomID: string, streamList: { streamID: string; user: ZegoUser; extraInfo: string }[]) => void;
  roomExtraInfoUpdate: (roomID: string, roomExtraInfoList: ZegoRoomExtraInfo[]) => void;
  IMRecvBroadcastMessage: (roomID: string, chatData: ZegoBroadcastMessageInfo[]) => void;
  IMRecvBarrageMessage: (roomID: string, messageInfo: ZegoBroadcastMessageInfo[]) => void;
  IMRecvCustomCommand: (roomID: string, fromUser: ZegoUser, command: string) => void;
  tokenWillExpire: (roomID: string) => void;
  publisherStateUpdate: (result: PublisherStateResult) => void;
  publishQualityUpdate: (streamID: string, stats: QualityStats) => void;
  playerStateUpdate: (result: PlayerStateResult) => void;
  playQualityUpdate: (streamID: string, stats: QualityStats) => void;
  capturedSoundLevelUpdate: (soundLevel: number) => void;
  soundLevelUpdate: (soundLevelList: { streamID: string; soundLevel: number }[]) => void;
}

export type EventName = keyof DuetEvents;

/** What the send* and set* calls resolve with: errorCode 0 on success. */
export interface ZegoResult {
  errorCode: number;
  extendedData?: string;
  messageID?: number;
}

/** A mixer task's input (COMPAT.md §6, docs/mixing.md): a live stream of the app and where it goes. */
export interface ZegoMixStreamInput {
  streamID: string;
  /** "VIDEO" (default: picture and sound), "AUDIO" (sound only), "VIDEO_ONLY" (picture only). */
  contentType?: "VIDEO" | "AUDIO" | "VIDEO_ONLY";
  /** Pixels of the output canvas; default the whole canvas. */
  layout?: { top: number; left: number; bottom: number; right: number };
  /** 0 (default): fill the region, cropping; 1: fit inside it. */
  renderMode?: 0 | 1;
  /** An http(s):// image shown while the input is not live. */
  imageInfo?: { url: string };
  [field: string]: unknown;
}

/** A mixer task's output: a stream ID of the app (published in the room) or an rtmp:// URL. */
export interface ZegoMixStreamOutput {
  target: string;
  videoConfig?: object;
  [field: string]: unknown;
}

/** A mixer task's encoding (server defaults for what is left out: 640×360, 15 fps, 800 kbit/s). */
export interface ZegoMixStreamOutputConfig {
  outputBitrate?: number;
  outputFPS?: number;
  outputWidth?: number;
  outputHeight?: number;
  outputAudioBitrate?: number;
  outputAudioChannels?: number;
  outputAudioCodecID?: number;
  audioMixMode?: number;
  /** The canvas colour: 0xRRGGBB or "#RRGGBB". */
  outputBgColor?: number | string;
  [field: string]: unknown;
}

/** What `startMixerTask` takes: the hosted cloud's shape, plus Duet's optional `roomID`. */
export interface ZegoMixStreamConfig {
  taskID: string;
  inputList: ZegoMixStreamInput[];
  /** Stream IDs or rtmp:// URLs, as plain strings or `{target}`. */
  outputList: (string | ZegoMixStreamOutput)[];
  outputConfig?: ZegoMixStreamOutputConfig;
  /** The room whose members hear of the output streams; default the one room the engine is in. */
  roomID?: string;
  [field: string]: unknown;
}

/** What `startPublishingStream` reserves: the push URL (RTMP) and the same grant over WebRTC (WHIP). */
export interface PublishGrant {
  streamID: string;
  url: string;
  /** "" when the server offers no WHIP. */
  whipURL: string;
}

/** What `startPlayingStream` is granted: the play URL (RTMP or FLV) and the same over WebRTC (WHEP). */
export interface PlayGrant {
  streamID: string;
  url: string;
  /** "" when the server offers no WHEP. */
  whepURL: string;
}

export interface PublishOption {
  sourceType?: "CDN" | "BGP";
  streamParams?: string;
  extraInfo?: string;
  roomID?: string;
}

export interface PlayOption {
  streamParams?: string;
  isMix?: boolean;
  sourceType?: "CDN" | "BGP";
}

export interface LogConfig {
  logLevel?: LogLevel;
  remoteLogLevel?: LogLevel;
  logURL?: string;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "report" | "disable";

/** A rejection of `loginRoom` and the other promise APIs. */
export interface DuetError {
  code: number;
  msg: string;
}
