/**
 * A stream the page plays over WHEP: its link (link.ts) receives video and audio into one
 * `MediaStream` that the page keeps for the whole play, whatever happens underneath: when the
 * link is made again (a server restart, the publisher gone and back) the new tracks replace
 * the old ones in that same stream, so a `<video>` showing it carries on by itself.
 */

import type { Logger } from "../../miniprogram/src/core/logger";
import type { StreamStates } from "../../miniprogram/src/core/stream_states";
import type { DuetError } from "../../miniprogram/src/core/types";
import { Link } from "./link";

export interface PlaybackHost {
  readonly logger: Logger;
  readonly streams: StreamStates;
  /** The stream's WHEP URL signed again now (its first one expired); rejects when it cannot be now. */
  renewURL(streamID: string): Promise<string | undefined>;
  /** The server will not play the stream: end the play. */
  release(streamID: string): void;
}

export class Playback {
  /** What the page shows; its tracks change, the object does not. */
  readonly stream = new MediaStream();
  private readonly link: Link;
  readonly muted = { video: false, audio: false };

  constructor(
    readonly streamID: string,
    private whepURL: string,
    want: { video: boolean; audio: boolean },
    host: PlaybackHost,
  ) {
    const { streams } = host;
    const playing = () => streams.playing.has(streamID);
    this.muted = { video: !want.video, audio: !want.audio };
    this.link = new Link(
      `play ${streamID}`,
      {
        url: async (renew) => {
          if (!playing()) return undefined;
          if (renew) this.whepURL = (await host.renewURL(streamID)) || this.whepURL;
          return this.whepURL;
        },
        prepare: (pc) => {
          // Duet's WHEP answers only offers that receive video; an unwanted kind is received disabled.
          pc.addTransceiver("video", { direction: "recvonly" });
          pc.addTransceiver("audio", { direction: "recvonly" });
          pc.ontrack = (e) => this.adopt(e.track);
        },
        up: () => {
          if (playing()) streams.setPlayState(streamID, "PLAYING", 0);
        },
        retrying: (err) => {
          if (playing()) streams.setPlayState(streamID, "PLAY_REQUESTING", err.code, err.msg);
        },
        failed: (err) => {
          if (playing()) streams.setPlayState(streamID, "NO_PLAY", err.code, err.msg);
          host.release(streamID);
        },
      },
      host.logger,
    );
  }

  /** Starts playing; resolves once the server took the first offer (or will once the stream is live). */
  async start(): Promise<DuetError | undefined> {
    const first = await this.link.start();
    return first.ok ? undefined : first.err;
  }

  stop(): void {
    this.link.stop();
    for (const track of this.stream.getTracks()) track.stop();
  }

  /** The stream is announced again, or the session is back: a link waiting to try again tries now. */
  soon(): void {
    this.link.soon();
  }

  mute(kind: "video" | "audio", mute: boolean): void {
    this.muted[kind] = mute;
    for (const track of this.stream.getTracks()) if (track.kind === kind) track.enabled = !mute;
  }

  get peer(): RTCPeerConnection | undefined {
    return this.link.connected;
  }

  private adopt(track: MediaStreamTrack): void {
    for (const old of this.stream.getTracks()) {
      if (old.kind === track.kind && old !== track) {
        this.stream.removeTrack(old);
        old.stop();
      }
    }
    track.enabled = !this.muted[track.kind as "video" | "audio"];
    if (this.stream.getTracks().indexOf(track) < 0) this.stream.addTrack(track);
  }
}
