/**
 * A stream the page publishes from a `MediaStream` over WHIP: its link (link.ts) carries the
 * stream's video as H.264 (the only video Duet takes over WebRTC) and its audio as Opus. The
 * server reports PUBLISHING once media arrives (a signaling push, as for `<live-pusher>`);
 * this reports the link's trouble and, on a refusal for good, ends the publishing.
 */

import { SdkError } from "../../miniprogram/src/core/errors";
import type { Logger } from "../../miniprogram/src/core/logger";
import type { StreamStates } from "../../miniprogram/src/core/stream_states";
import { h264Encoders } from "./capture";
import { Link } from "./link";

export interface PublicationHost {
  readonly logger: Logger;
  readonly streams: StreamStates;
  /**
   * The stream's WHIP URL (refreshed when signaling reserves it again; with `renew`, signed
   * again now); undefined once it is not reserved. Rejects when it cannot be renewed now.
   */
  whipURL(streamID: string, renew: boolean): Promise<string | undefined>;
  /** The server will not take the stream: end its publishing (and its reservation). */
  release(streamID: string): void;
}

export class Publication {
  private readonly link: Link;

  constructor(
    readonly streamID: string,
    readonly stream: MediaStream,
    host: PublicationHost,
  ) {
    const { streams } = host;
    this.link = new Link(
      `publish ${streamID}`,
      {
        url: (renew) => host.whipURL(streamID, renew),
        prepare: (pc) => this.prepare(pc),
        up: () => {},
        retrying: (err) => {
          if (streams.publishing.has(streamID)) streams.setPublishState(streamID, "PUBLISH_REQUESTING", err.code, err.msg);
        },
        failed: (err) => {
          if (streams.publishing.has(streamID)) streams.setPublishState(streamID, "NO_PUBLISH", err.code, err.msg);
          host.release(streamID);
        },
      },
      host.logger,
    );
  }

  start(): void {
    void this.link.start();
  }

  stop(): void {
    this.link.stop();
  }

  /** The session is back: a link waiting to try again tries now. */
  soon(): void {
    this.link.soon();
  }

  /**
   * The server says it has no media of this stream (PUBLISH_REQUESTING) while the link thinks
   * it is up: the server lost it (or restarted) before the browser noticed. Connect again now,
   * unless the link came up a moment ago.
   */
  interrupted(code: number): void {
    this.link.restart({ code, msg: `publish ${this.streamID}: the server has no media of it` }, 2000);
  }

  get peer(): RTCPeerConnection | undefined {
    return this.link.connected;
  }

  private prepare(pc: RTCPeerConnection): void {
    const video = this.stream.getVideoTracks()[0];
    if (!video) throw { code: SdkError.NOT_SUPPORTED, msg: `publish ${this.streamID}: the stream has no video track (Duet takes video with audio over WebRTC)` };
    const transceiver = pc.addTransceiver(video, { direction: "sendonly", streams: [this.stream] });
    const h264 = h264Encoders();
    if (h264.length === 0) throw { code: SdkError.WEBRTC_NO_H264, msg: `publish ${this.streamID}: this browser cannot send H.264 (packetization-mode 1)` };
    if (typeof transceiver.setCodecPreferences === "function") transceiver.setCodecPreferences(h264);
    for (const audio of this.stream.getAudioTracks().slice(0, 1)) pc.addTransceiver(audio, { direction: "sendonly", streams: [this.stream] });
  }
}
