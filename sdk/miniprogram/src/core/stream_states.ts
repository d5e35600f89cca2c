/**
 * The streams this engine publishes and plays, and their states: what the server pushes
 * (PUBLISH_REQUESTING, PUBLISHING), what the platform's media elements report (states, quality
 * and volume, as the adapter translates them), and the fallback push URLs behind `getNextUrl`.
 * A state is emitted only when it or its error code changes.
 */

import type { Emitter } from "./emitter";
import type { PlayerState, PublisherState, QualityStats } from "./types";

export interface Publishing {
  roomID: string;
  extraInfo: string;
  urls: string[];
  /** The WHIP URL of the reservation ("" when the server offers none). */
  whipURL: string;
  next: number;
  /** The page's `streamParams`, added to the URLs again when the stream is reserved again. */
  streamParams: string | undefined;
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

  constructor(private readonly emitter: Emitter) {}

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

  /** Quality of the stream `id` (published or played), made by `stats` with its last sound level. */
  quality(id: string, stats: (soundLevel: number | undefined) => QualityStats): void {
    const pub = this.publishing.get(id);
    if (pub) {
      this.emitter.emit("publishQualityUpdate", id, stats(pub.soundLevel));
      return;
    }
    const play = this.playing.get(id);
    if (play) this.emitter.emit("playQualityUpdate", id, stats(play.soundLevel));
  }

  /** The sound level of the stream `id` (published: captured; played: received). */
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
