/**
 * The signaling protocol's vocabulary (docs/protocol.md) as types: every request op with its
 * data and reply, every push with its data, and every server error code by its wire name.
 * test/protocol.test.mjs reads the server's crates/room/src/wire.rs and error.rs (and the
 * places that send pushes) and fails when this file and the server disagree.
 */

import type { PublisherState, UpdateType, ZegoBroadcastMessageInfo, ZegoMixStreamConfig, ZegoRoomExtraInfo, ZegoStreamList, ZegoUser } from "./types";

/** The protocol version this SDK speaks (`login.protocol`, `hello.protocol`). */
export const PROTOCOL = 1;

/** A room's state as `login` replies and `roomResync` pushes carry it. */
export interface Snapshot {
  roomID: string;
  seq: number;
  users?: ZegoUser[];
  streams?: ZegoStreamList[];
  extraInfo?: ZegoRoomExtraInfo[];
  onlineCount?: number;
  tokenExpire?: number;
}

export interface LoginData {
  protocol: number;
  appID: number;
  roomID: string;
  token: string;
  user: ZegoUser;
  userUpdate?: boolean;
  maxMemberCount?: number;
  multiRoom?: boolean;
}

export interface SessionIDs {
  sessionID: string;
  resumeToken: string;
}

/** The session's credential for `POST /httplog`, in the login, resume and renewToken replies. */
export interface LogCredential {
  logToken?: string;
}

/** One stream's quality in a `reportQuality` request (wire.rs, duet_room::quality). */
export interface StreamQualityReport {
  streamID: string;
  role: "publish" | "play";
  videoKbps: number;
  audioKbps: number;
  fps: number;
  width: number;
  height: number;
  rttMs?: number;
  lossPct?: number;
  cacheMs?: number;
  stalls: number;
  reconnects: number;
}

export interface PublishReply {
  streamID: string;
  url: string;
  urls?: string[];
  /** The same grant for a browser publishing over WebRTC (WHIP). */
  whipURL?: string;
}

export interface PlayReply {
  streamID: string;
  url: string;
  live: boolean;
  urlsRTMP?: string[];
  urlsFLV?: string[];
  urlsHttpsFLV?: string[];
  urlsHLS?: string[];
  urlsHttpsHLS?: string[];
  /** The same grant for a browser playing over WebRTC (WHEP). */
  whepURL?: string;
}

/** A started (or changed) mixer task: each output as a stream ID of the app or an rtmp:// URL. */
export interface MixerTaskReply {
  taskID: string;
  outputList: ({ streamID: string } | { url: string })[];
}

type Empty = Record<string, never>;
type RelayData = { streamID: string; targetURL: string };
type MessageData = { roomID: string; message: string };

/** Every request: `op` → the `data` it sends and the `data` of a success reply. */
export interface Requests {
  login: { data: LoginData; reply: Snapshot & SessionIDs & LogCredential & { heartbeatMs?: number } };
  resume: { data: SessionIDs & { rooms: Record<string, number> }; reply: LogCredential & { sessionID: string; rooms?: { roomID: string; replayed: boolean; onlineCount?: number }[] } };
  logout: { data: { roomID?: string }; reply: Empty };
  renewToken: { data: { token: string; roomID?: string }; reply: LogCredential & { tokenExpire: number } };
  ping: { data: Empty; reply: { serverTime: number } };
  sendBroadcastMessage: { data: MessageData; reply: { messageID: number } };
  sendBarrageMessage: { data: MessageData; reply: { messageID: number } };
  sendCustomCommand: { data: { roomID: string; command: string; toUserIDList: string[] }; reply: { delivered: number } };
  setRoomExtraInfo: { data: { roomID: string; key: string; value: string }; reply: Empty };
  setStreamExtraInfo: { data: { streamID: string; extraInfo: string }; reply: Empty };
  publish: { data: { roomID?: string; streamID: string; extraInfo?: string }; reply: PublishReply };
  stopPublish: { data: { streamID: string }; reply: Empty };
  play: { data: { streamID: string }; reply: PlayReply };
  addPublishCdnUrl: { data: RelayData; reply: Empty };
  removePublishCdnUrl: { data: RelayData; reply: Empty };
  startMixerTask: { data: ZegoMixStreamConfig; reply: MixerTaskReply };
  stopMixerTask: { data: { taskID: string }; reply: Empty };
  reportQuality: { data: { roomID?: string; streams: StreamQualityReport[] }; reply: Empty };
}

export type Op = keyof Requests;
export type RequestData<O extends Op> = Requests[O]["data"];
export type Reply<O extends Op> = Requests[O]["reply"];

/** Every push: name → its `data`. Room events (with `seq`) carry `roomID`. */
export interface Pushes {
  hello: { protocol: number; server?: string; heartbeatMs: number; heartbeatTimeoutMs: number; resumeGraceMs: number; maxFrameBytes: number };
  roomUserUpdate: { roomID: string; updateType: UpdateType; userList?: ZegoUser[] };
  roomOnlineUserCountUpdate: { roomID: string; count: number };
  roomStreamUpdate: { roomID: string; updateType: UpdateType; streamList?: ZegoStreamList[] };
  streamExtraInfoUpdate: { roomID: string; streamList?: { streamID: string; user: ZegoUser; extraInfo: string }[] };
  roomExtraInfoUpdate: { roomID: string; roomExtraInfoList?: ZegoRoomExtraInfo[] };
  IMRecvBroadcastMessage: { roomID: string; messageList?: ZegoBroadcastMessageInfo[] };
  IMRecvBarrageMessage: { roomID: string; messageList?: ZegoBroadcastMessageInfo[] };
  IMRecvCustomCommand: { roomID: string; fromUser: ZegoUser; command: string };
  publisherStateUpdate: { streamID: string; state: PublisherState; errorCode?: number };
  tokenWillExpire: { roomID: string; tokenExpire: number };
  kickout: { roomID: string; code: number; reason: string };
  roomResync: Snapshot;
  close: { code: number; reason: string };
}

export type PushName = keyof Pushes;

/** A push as the connection hands it on: the name tells the data's shape. */
export type Push = { [N in PushName]: { name: N; seq: number | undefined; data: Pushes[N] } }[PushName];

/** Each key once: the compiler checks these lists against `Requests` and `Pushes`. */
const OP_SET: { [O in Op]: true } = {
  login: true,
  resume: true,
  logout: true,
  renewToken: true,
  ping: true,
  sendBroadcastMessage: true,
  sendBarrageMessage: true,
  sendCustomCommand: true,
  setRoomExtraInfo: true,
  setStreamExtraInfo: true,
  publish: true,
  stopPublish: true,
  play: true,
  addPublishCdnUrl: true,
  removePublishCdnUrl: true,
  startMixerTask: true,
  stopMixerTask: true,
  reportQuality: true,
};
const PUSH_SET: { [N in PushName]: true } = {
  hello: true,
  roomUserUpdate: true,
  roomOnlineUserCountUpdate: true,
  roomStreamUpdate: true,
  streamExtraInfoUpdate: true,
  roomExtraInfoUpdate: true,
  IMRecvBroadcastMessage: true,
  IMRecvBarrageMessage: true,
  IMRecvCustomCommand: true,
  publisherStateUpdate: true,
  tokenWillExpire: true,
  kickout: true,
  roomResync: true,
  close: true,
};

export const OPS = Object.keys(OP_SET) as Op[];
export const PUSHES = Object.keys(PUSH_SET) as PushName[];

export function isPushName(name: string): name is PushName {
  return Object.prototype.hasOwnProperty.call(PUSH_SET, name);
}

/** Every code the server sends (`code` of a refusal, `close`, `kickout`), by its wire `reason`. */
export const ServerError = {
  bad_frame: 40000,
  unknown_op: 40001,
  invalid_field: 40002,
  frame_too_large: 40003,
  not_logged_in: 40004,
  rate_limited: 40005,
  unsupported_protocol: 40006,
  unknown_app: 40100,
  token_malformed: 40101,
  token_bad_signature: 40102,
  token_wrong_app: 40103,
  token_expired: 40104,
  token_user_mismatch: 40105,
  token_login_denied: 40106,
  token_room_mismatch: 40107,
  token_publish_denied: 40108,
  token_stream_not_allowed: 40109,
  room_full: 40300,
  already_in_room: 40301,
  not_in_room: 40302,
  stream_taken: 40303,
  stream_not_owned: 40304,
  user_mismatch: 40305,
  resume_failed: 40306,
  too_many_keys: 40307,
  too_many_relays: 40308,
  room_on_other_node: 40309,
  mixer_task_limit: 40310,
  room_not_found: 40400,
  user_not_found: 40401,
  stream_not_found: 40402,
  mixer_task_not_found: 40403,
  kicked_out: 41000,
  kicked_by_server: 41001,
  heartbeat_timeout: 41002,
  abusive: 41003,
  server_shutdown: 41004,
  room_closed: 41005,
  server_draining: 41006,
  publish_interrupted: 41100,
  stopped_by_server: 41101,
  internal: 50000,
  mixer_unavailable: 50001,
  registry_unavailable: 50002,
} as const;

export type ServerReason = keyof typeof ServerError;
