/**
 * Error codes the SDK raises itself. Codes from the server (40000–50001) pass through
 * unchanged (docs/error-codes.md); these 60000+ codes name what happened on the device.
 * Every one is listed in docs/sdk.md.
 */

import type { DuetError } from "./types";

export const SdkError = {
  /** A call's arguments are missing or of the wrong type. */
  INVALID_ARGUMENT: 60001,
  /** The engine was destroyed. */
  DESTROYED: 60002,
  /** No server address could be reached. */
  NETWORK_UNREACHABLE: 60003,
  /** The server did not answer a request in time. */
  REQUEST_TIMEOUT: 60004,
  /** The call needs a room this engine is not logged into. */
  NOT_LOGGED_IN: 60005,
  /** `initContext` was not called before createPusher/getPlayerInstance. */
  NO_CONTEXT: 60006,
  /** The connection dropped while a request was in flight. */
  CONNECTION_LOST: 60007,
  /** The feature needs a server capability this Duet server does not offer yet. */
  NOT_SUPPORTED: 60008,
  /** Reconnecting gave up: the session could be neither resumed nor logged in again. */
  RECONNECT_FAILED: 60009,
  /** The call was cancelled by logoutRoom or destroyEngine. */
  CANCELLED: 60010,

  /** <live-pusher> could not open the camera (WeChat -1301). */
  PUSH_CAMERA_FAILED: 60101,
  /** <live-pusher> could not open the microphone (WeChat -1302). */
  PUSH_MIC_FAILED: 60102,
  /** <live-pusher> could not encode (WeChat -1303 video, -1304 audio). */
  PUSH_ENCODE_FAILED: 60103,
  /** <live-pusher> gave up after its own retries (WeChat -1307). */
  PUSH_FAILED: 60104,
  /** The push or play was interrupted by a phone or WeChat call (WeChat 5001). */
  INTERRUPTED_BY_CALL: 60105,
  /** Browser: the screen could not be captured (the user declined, or the page may not). */
  SCREEN_CAPTURE_FAILED: 60106,

  /** <live-player> gave up after its own retries (WeChat -2301). */
  PLAY_FAILED: 60201,
  /** <live-player> could not get the play URL (WeChat -2302). */
  PLAY_URL_FAILED: 60202,

  /** DNS lookup of the media server failed (WeChat 3001). */
  MEDIA_DNS_FAILED: 60301,
  /** The media server could not be reached (WeChat 3002). */
  MEDIA_CONNECT_FAILED: 60302,
  /** The RTMP handshake failed (WeChat 3003). */
  MEDIA_HANDSHAKE_FAILED: 60303,
  /** The media server closed the connection (WeChat 3004): often a refused or expired URL. */
  MEDIA_SERVER_CLOSED: 60304,
  /** Reading or writing media failed (WeChat 3005). */
  MEDIA_IO_FAILED: 60305,

  /** Browser: the server refused a WHIP or WHEP request; extendedData has its status, code and message. */
  WEBRTC_REFUSED: 60401,
  /** Browser: this browser cannot send H.264, the only video Duet takes over WebRTC (docs/webrtc.md). */
  WEBRTC_NO_H264: 60402,
} as const;

export function duetError(code: number, msg: string): DuetError {
  return { code, msg };
}
