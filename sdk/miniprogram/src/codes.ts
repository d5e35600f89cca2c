/**
 * Mini-program adapter: WeChat <live-pusher>/<live-player> event codes (COMPAT.md §3) turned
 * into the SDK's publisher and player states and quality stats. Pure functions, plus
 * `componentState`, which applies a code the page passes to `updatePlayerState` to the core's
 * stream states.
 *
 * PUBLISHING never comes from here: only the server knows the stream arrived.
 */

import { SdkError } from "./core/errors";
import type { Logger } from "./core/logger";
import type { StreamStates } from "./core/stream_states";
import type { PlayerState, PublisherState, QualityStats } from "./core/types";

export interface Transition<S> {
  state: S;
  errorCode: number;
}

/** Network-level codes both components report. */
function mediaNetworkError(code: number): number | undefined {
  switch (code) {
    case 3001:
      return SdkError.MEDIA_DNS_FAILED;
    case 3002:
      return SdkError.MEDIA_CONNECT_FAILED;
    case 3003:
      return SdkError.MEDIA_HANDSHAKE_FAILED;
    case 3004:
      return SdkError.MEDIA_SERVER_CLOSED;
    case 3005:
      return SdkError.MEDIA_IO_FAILED;
    default:
      return undefined;
  }
}

/**
 * A `<live-pusher bindstatechange>` code: the publisher state it means, or null when it is
 * informational (connected, camera opened, first frame, encoder started, weak network).
 */
export function pusherTransition(code: number): Transition<PublisherState> | null {
  switch (code) {
    case -1301:
      return { state: "NO_PUBLISH", errorCode: SdkError.PUSH_CAMERA_FAILED };
    case -1302:
      return { state: "NO_PUBLISH", errorCode: SdkError.PUSH_MIC_FAILED };
    case -1303:
    case -1304:
      return { state: "NO_PUBLISH", errorCode: SdkError.PUSH_ENCODE_FAILED };
    case -1307:
      return { state: "NO_PUBLISH", errorCode: SdkError.PUSH_FAILED };
    case 1102:
      return { state: "PUBLISH_REQUESTING", errorCode: 0 };
    case 5001:
      return { state: "PUBLISH_REQUESTING", errorCode: SdkError.INTERRUPTED_BY_CALL };
  }
  const network = mediaNetworkError(code);
  return network === undefined ? null : { state: "PUBLISH_REQUESTING", errorCode: network };
}

/**
 * A `<live-player bindstatechange>` code: the player state it means, or null when it is
 * informational (progress, loading, decoder started, resolution change, stutter).
 */
export function playerTransition(code: number): Transition<PlayerState> | null {
  switch (code) {
    case 2001:
    case 2002:
    case 2103:
      return { state: "PLAY_REQUESTING", errorCode: 0 };
    case 2003:
    case 2004:
      return { state: "PLAYING", errorCode: 0 };
    case 2006:
      return { state: "NO_PLAY", errorCode: 0 };
    case -2301:
      return { state: "NO_PLAY", errorCode: SdkError.PLAY_FAILED };
    case -2302:
      return { state: "NO_PLAY", errorCode: SdkError.PLAY_URL_FAILED };
    case 5001:
      return { state: "PLAY_REQUESTING", errorCode: SdkError.INTERRUPTED_BY_CALL };
  }
  const network = mediaNetworkError(code);
  return network === undefined ? null : { state: "PLAY_REQUESTING", errorCode: network };
}

/** Whether a pusher code says the push URL failed, so the page should try `getNextUrl`. */
export function isPushFailure(code: number): boolean {
  return code === -1307 || mediaNetworkError(code) !== undefined;
}

function num(v: unknown): number {
  const n = typeof v === "string" ? Number(v) : v;
  return typeof n === "number" && isFinite(n) ? n : 0;
}

/** `bindnetstatus` `detail.info` as quality stats (missing or non-numeric fields are 0). */
export function qualityStats(info: Record<string, unknown>, soundLevel?: number): QualityStats {
  const stats: QualityStats = {
    video: {
      videoBitrate: num(info.videoBitrate),
      videoFPS: num(info.videoFPS),
      frameWidth: num(info.videoWidth),
      frameHeight: num(info.videoHeight),
      videoGOP: num(info.videoGOP),
    },
    audio: { audioBitrate: num(info.audioBitrate) },
    netSpeed: num(info.netSpeed),
    netJitter: num(info.netJitter),
  };
  if (info.videoCache !== undefined) stats.video.videoCache = num(info.videoCache);
  if (info.audioCache !== undefined) stats.audio.audioCache = num(info.audioCache);
  if (info.avPlayInterval !== undefined) stats.avPlayInterval = num(info.avPlayInterval);
  if (info.avRecvInterval !== undefined) stats.avRecvInterval = num(info.avRecvInterval);
  if (soundLevel !== undefined) stats.audio.soundLevel = soundLevel;
  return stats;
}

/** A `bindstatechange` code of the pusher or player of `id` (a streamID), applied to its state. */
export function componentState(streams: StreamStates, logger: Logger, id: string, code: number): void {
  const extended = JSON.stringify({ wxCode: code });
  if (streams.publishing.has(id)) {
    logger.debug(`<live-pusher> ${id}: ${code}`);
    const t = pusherTransition(code);
    if (t) streams.setPublishState(id, t.state, t.errorCode, extended);
    if (isPushFailure(code)) logger.warn(`push of ${id} failed (${code}); getNextUrl gives the next address`);
  } else if (streams.playing.has(id)) {
    logger.debug(`<live-player> ${id}: ${code}`);
    const t = playerTransition(code);
    if (t) streams.setPlayState(id, t.state, t.errorCode, extended);
  } else {
    logger.debug(`state ${code} for ${id}, which is neither published nor played`);
  }
}
