/**
 * What the SDK knows of one room it is in: members, live streams, extra info, the last event
 * `seq` (for resume), and the token and settings to log in again with. A snapshot (login reply,
 * `roomResync`, or a fresh login after a failed resume) is applied as a difference, so the page
 * sees ADD/DELETE for exactly what changed while it was away. A stream now played from another
 * server (in a cluster, the client got back in through another node) counts as changed: DELETE
 * of the old, ADD of the new, so players start again on the new URLs.
 */

import type { Snapshot } from "./protocol";
import type { ZegoRoomConfig, ZegoRoomExtraInfo, ZegoStreamList, ZegoUser } from "./types";

export type { Snapshot };

export interface SnapshotDiff {
  usersAdded: ZegoUser[];
  usersRemoved: ZegoUser[];
  streamsAdded: ZegoStreamList[];
  streamsRemoved: ZegoStreamList[];
  extraInfoChanged: ZegoRoomExtraInfo[];
  onlineCount: number | undefined;
}

/** Where a stream is played from: its first RTMP URL without the query (signature, expiry). */
function playedFrom(s: ZegoStreamList): string {
  return ((s.urlsRTMP && s.urlsRTMP[0]) || "").split("?")[0];
}

/** Whether the same stream is now played from another server. */
function moved(before: ZegoStreamList, after: ZegoStreamList): boolean {
  return playedFrom(before) !== playedFrom(after);
}

export class Room {
  seq = 0;
  users = new Map<string, ZegoUser>();
  streams = new Map<string, ZegoStreamList>();
  extraInfo = new Map<string, ZegoRoomExtraInfo>();
  onlineCount = 0;
  tokenExpire = 0;

  constructor(
    readonly roomID: string,
    public token: string,
    readonly user: ZegoUser,
    readonly config: ZegoRoomConfig,
  ) {}

  /** Replaces what is known with the snapshot and returns the difference. */
  apply(snap: Snapshot): SnapshotDiff {
    const users = new Map((snap.users || []).map((u) => [u.userID, u] as [string, ZegoUser]));
    const streams = new Map((snap.streams || []).map((s) => [s.streamID, s] as [string, ZegoStreamList]));
    const diff: SnapshotDiff = {
      usersAdded: [...users.values()].filter((u) => !this.users.has(u.userID)),
      usersRemoved: [...this.users.values()].filter((u) => !users.has(u.userID)),
      streamsAdded: [...streams.values()].filter((s) => !this.streams.has(s.streamID) || moved(this.streams.get(s.streamID)!, s)),
      streamsRemoved: [...this.streams.values()].filter((s) => !streams.has(s.streamID) || moved(s, streams.get(s.streamID)!)),
      extraInfoChanged: (snap.extraInfo || []).filter((e) => {
        const before = this.extraInfo.get(e.key);
        return !before || before.value !== e.value || before.updateTime !== e.updateTime;
      }),
      onlineCount: snap.onlineCount !== undefined && snap.onlineCount !== this.onlineCount ? snap.onlineCount : undefined,
    };
    this.users = users;
    this.streams = streams;
    for (const e of snap.extraInfo || []) this.extraInfo.set(e.key, e);
    if (snap.onlineCount !== undefined) this.onlineCount = snap.onlineCount;
    if (snap.tokenExpire) this.tokenExpire = snap.tokenExpire;
    this.seq = snap.seq || 0;
    return diff;
  }

  /** Takes a room event's `seq`; false when it was seen already (a replay after resume). */
  accept(seq: number | undefined): boolean {
    if (seq === undefined) return true;
    if (seq <= this.seq) return false;
    this.seq = seq;
    return true;
  }
}
