/**
 * Where this engine is: the rooms it is in and the streams it publishes and plays, with the
 * events that announce them (room states, publisher and player states). It reserves a stream
 * on a connection it is handed and forgets rooms and streams, but never decides when: that
 * is the session's (connection life, recovery) and the API's (what the page asks).
 */

import type { Connection } from "./connection";
import type { Emitter } from "./emitter";
import type { Logger } from "./logger";
import type { MediaBinding } from "./platform";
import type { Room } from "./room";
import { Publishing, StreamStates } from "./stream_states";
import type { DuetEvents, PublishGrant, RoomState } from "./types";

export type RoomReason = Parameters<DuetEvents["roomStateChanged"]>[1];

export class Presence {
  readonly rooms = new Map<string, Room>();
  readonly streams: StreamStates;
  /** The adapter's page elements (set by the adapter, e.g. `initContext`). */
  media: MediaBinding | undefined;

  constructor(
    readonly emitter: Emitter,
    private readonly logger: Logger,
  ) {
    this.streams = new StreamStates(emitter);
  }

  roomState(roomID: string, state: RoomState, reason: RoomReason, code: number, extended: string): void {
    this.emitter.emit("roomStateUpdate", roomID, state, code, extended);
    this.emitter.emit("roomStateChanged", roomID, reason, code, extended);
  }

  /**
   * Reserves `streamID` in `roomID` on `conn` and keeps its push URLs (with `streamParams`);
   * again after a new login, so the URLs are always the newest session's.
   */
  async publish(conn: Connection, roomID: string, streamID: string, extraInfo: string, streamParams: string | undefined): Promise<PublishGrant> {
    const reply = await conn.request("publish", { roomID, streamID, extraInfo });
    const urls = (reply.urls && reply.urls.length ? reply.urls : [reply.url]).map((u) => withParams(u, streamParams));
    const whipURL = reply.whipURL ? withParams(reply.whipURL, streamParams) : "";
    const previous = this.streams.publishing.get(streamID);
    this.streams.publishing.set(streamID, {
      roomID,
      extraInfo,
      urls,
      whipURL,
      streamParams,
      next: 0,
      state: previous ? previous.state : "NO_PUBLISH",
      errorCode: 0,
    });
    this.logger.info(`publishing ${streamID} in room ${roomID}`);
    return { streamID, url: urls[0], whipURL };
  }

  /** Ends the device's side of publishing `streamID` (its pusher, NO_PUBLISH); the caller tells the server. */
  unpublish(streamID: string, code: number): Publishing | undefined {
    const p = this.streams.publishing.get(streamID);
    if (!p) return undefined;
    this.streams.publishing.delete(streamID);
    if (this.media) this.media.unbindPusher(streamID);
    if (p.state !== "NO_PUBLISH") this.emitter.emit("publisherStateUpdate", { streamID, state: "NO_PUBLISH", errorCode: code, extendedData: "" });
    return p;
  }

  stopPlaying(streamID: string): void {
    const p = this.streams.playing.get(streamID);
    this.streams.playing.delete(streamID);
    if (this.media) this.media.unbindPlayer(streamID);
    if (p && p.state !== "NO_PLAY") this.emitter.emit("playerStateUpdate", { streamID, state: "NO_PLAY", errorCode: 0, extendedData: "" });
  }

  /**
   * Forgets a room and what this user published there (and, out of every room, what it plays).
   * False when not in the room. The caller announces the room's end (`roomState`).
   */
  forget(roomID: string, code: number): boolean {
    if (!this.rooms.delete(roomID)) return false;
    for (const [streamID, p] of [...this.streams.publishing]) {
      if (p.roomID === roomID) this.unpublish(streamID, code);
    }
    if (this.rooms.size === 0) {
      for (const streamID of [...this.streams.playing.keys()]) this.stopPlaying(streamID);
    }
    return true;
  }
}

/** `url` with `params` ("a=1&b=2", leading ? or & allowed) appended to its query. */
export function withParams(url: string, params: string | undefined): string {
  if (!params) return url;
  const extra = params.replace(/^[?&]+/, "");
  return extra ? `${url}${url.indexOf("?") >= 0 ? "&" : "?"}${extra}` : url;
}
