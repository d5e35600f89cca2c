/**
 * The streams this engine publishes and plays, and their states: what the server pushes
 * (PUBLISH_REQUESTING, PUBLISHING), what the WeChat components report (their codes, net status
 * and volume, passed in by the page), and the fallback push URLs behind `getNextUrl`.
 * A state is emitted only when it or its error code changes.
 */

import { isPushFailure, playerTransition, pusherTransition, qualityStats } from "./codes";
import type { Emitter } from "./emitter";
import type { Logger } from "./logger";
import type { PlayerState, PublisherState } from "./types";

export interface Publishing {
  roomID: string;
  extraInfo: string;
  urls: string[];
  next: number;
  state: PublisherState;
  errorCode: number;
  soundLevel?: number;
}

export interface Playing {
  state: PlayerState;
  errorCode: number;
  soundLevel?: number;
}

export class StreamStates {
  readonly publishing = new Map<string, Publishing>();
  readonly playing = new Map<string, Playing>();

  constructor(
    private readonly emitter: Emitter,
    private readonly logger: Logger,
  ) {}

  setPublishState(streamID: string, state: PublisherState, errorCode: number, extended: string): void {
    const p = this.publishing.get(streamID);
    if (p) {
      if (p.state === state && p.errorCode === errorCode) return;
      p.state = state;
      p.errorCode = errorCode;
    }
    this.emitter.emit("publisherStateUpdate", { streamID, state, errorCode, extendedData: extended });
  }

  setPlayState(streamID: string, state: PlayerState, errorCode: number, extended = ""): void {
    let p = this.playing.get(streamID);
    if (!p) {
      p = { state: "NO_PLAY", errorCode: 0 };
      this.playing.set(streamID, p);
    }
    if (p.state === state && p.errorCode === errorCode) return;
    p.state = state;
    p.errorCode = errorCode;
    this.emitter.emit("playerStateUpdate", { streamID, state, errorCode, extendedData: extended });
  }

  /** A `bindstatechange` code of the pusher or player of `id` (a streamID). */
  componentState(id: string, code: number): void {
    const extended = JSON.stringify({ wxCode: code });
    if (this.publishing.has(id)) {
      this.logger.debug(`<live-pusher> ${id}: ${code}`);
      const t = pusherTransition(code);
      if (t) this.setPublishState(id, t.state, t.errorCode, extended);
      if (isPushFailure(code)) this.logger.warn(`push of ${id} failed (${code}); getNextUrl gives the next address`);
    } else if (this.playing.has(id)) {
      this.logger.debug(`<live-player> ${id}: ${code}`);
      const t = playerTransition(code);
      if (t) this.setPlayState(id, t.state, t.errorCode, extended);
    } else {
      this.logger.debug(`state ${code} for ${id}, which is neither published nor played`);
    }
  }

  /** A `bindnetstatus` `detail.info`. */
  netStatus(id: string, info: Record<string, unknown>): void {
    const pub = this.publishing.get(id);
    if (pub) {
      this.emitter.emit("publishQualityUpdate", id, qualityStats(info, pub.soundLevel));
      return;
    }
    const play = this.playing.get(id);
    if (play) this.emitter.emit("playQualityUpdate", id, qualityStats(info, play.soundLevel));
  }

  /** A `bindaudiovolumenotify` `detail.volume`. */
  volume(id: string, volume: number): void {
    const pub = this.publishing.get(id);
    if (pub) {
      pub.soundLevel = volume;
      this.emitter.emit("capturedSoundLevelUpdate", volume);
      return;
    }
    const play = this.playing.get(id);
    if (play) {
      play.soundLevel = volume;
      this.emitter.emit("soundLevelUpdate", [{ streamID: id, soundLevel: volume }]);
    }
  }

  /** The next fallback push URL of a published stream ("" when not publishing it). */
  nextUrl(streamID: string): string {
    const p = this.publishing.get(streamID);
    if (!p) return "";
    p.next = (p.next + 1) % p.urls.length;
    return p.urls[p.next];
  }
}
