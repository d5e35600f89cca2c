/**
 * Call quality sent to the server (`reportQuality`, docs/protocol.md), so the console and the
 * business server can see why a call stuttered: every REPORT_EVERY_MS, for each stream this
 * engine publishes or plays, the last quality the platform measured (`<live-pusher>`/
 * `<live-player>` bindnetstatus, the browser's getStats: the same figures as the page's
 * publishQualityUpdate/playQualityUpdate) and the stalls and reconnects since the previous
 * report. One report per room per interval, at most MAX_STREAMS streams each; nothing is sent
 * when nothing was measured, and nothing while disconnected (what was counted waits for the
 * next report).
 */

import type { Connection } from "./connection";
import type { Emitter } from "./emitter";
import type { Logger } from "./logger";
import type { Presence } from "./presence";
import type { StreamQualityReport } from "./protocol";
import type { QualityStats } from "./types";

/** How often a report goes out. */
export const REPORT_EVERY_MS = 15000;
/** Most streams in one report (the server's bound). */
const MAX_STREAMS = 8;

interface Measured {
  role: "publish" | "play";
  stats?: QualityStats;
  /** Measured since the previous report. */
  fresh: boolean;
  stalls: number;
  reconnects: number;
  /** The last state seen, to count transitions. */
  state: string;
}

export class QualityReporter {
  private readonly measured = new Map<string, Measured>();
  private timer: number | undefined;

  constructor(
    emitter: Emitter,
    private readonly presence: Presence,
    private readonly logger: Logger,
    /** The live connection, or undefined while there is none. */
    private readonly live: () => Connection | undefined,
  ) {
    emitter.listen("publishQualityUpdate", (streamID, stats) => this.measure(streamID, "publish", stats));
    emitter.listen("playQualityUpdate", (streamID, stats) => this.measure(streamID, "play", stats));
    emitter.listen("publisherStateUpdate", (r) => {
      const m = this.entry(r.streamID, "publish");
      // PUBLISHING then back to requesting: the push reconnects.
      if (m.state === "PUBLISHING" && r.state === "PUBLISH_REQUESTING") m.reconnects++;
      m.state = r.state;
      if (r.state === "NO_PUBLISH") this.forgetLater(r.streamID);
    });
    emitter.listen("playerStateUpdate", (r) => {
      const m = this.entry(r.streamID, "play");
      // PLAYING then back to requesting: the picture stalled while the player waits or reconnects.
      if (m.state === "PLAYING" && r.state === "PLAY_REQUESTING") m.stalls++;
      m.state = r.state;
      if (r.state === "NO_PLAY") this.forgetLater(r.streamID);
    });
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.measured.clear();
  }

  private entry(streamID: string, role: "publish" | "play"): Measured {
    // Ticking only while there is something to report (an idle engine holds no timer).
    if (this.timer === undefined) this.timer = setInterval(() => void this.tick(), REPORT_EVERY_MS);
    let m = this.measured.get(streamID);
    if (!m || m.role !== role) {
      m = { role, fresh: false, stalls: 0, reconnects: 0, state: "" };
      this.measured.set(streamID, m);
    }
    return m;
  }

  private measure(streamID: string, role: "publish" | "play", stats: QualityStats): void {
    const m = this.entry(streamID, role);
    m.stats = stats;
    m.fresh = true;
  }

  /** A stream that ended is reported once more (its last counts), then forgotten. */
  private forgetLater(streamID: string): void {
    const m = this.measured.get(streamID);
    if (m && !m.fresh && m.stalls === 0 && m.reconnects === 0) this.measured.delete(streamID);
  }

  /** The room a stream belongs to: its publisher's, or the room that announced it. */
  private roomOf(streamID: string, role: "publish" | "play"): string | undefined {
    if (role === "publish") return this.presence.streams.publishing.get(streamID)?.roomID;
    for (const room of this.presence.rooms.values()) if (room.streams.has(streamID)) return room.roomID;
    return undefined;
  }

  private async tick(): Promise<void> {
    await this.report();
    if (this.measured.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Sends what was measured since the previous report; exposed for tests. */
  async report(): Promise<void> {
    const conn = this.live();
    if (!conn) return;
    const byRoom = new Map<string, { streamID: string; m: Measured }[]>();
    for (const [streamID, m] of this.measured) {
      if (!m.fresh && m.stalls === 0 && m.reconnects === 0) continue;
      const roomID = this.roomOf(streamID, m.role);
      if (roomID === undefined) {
        if (m.state === "NO_PLAY" || m.state === "NO_PUBLISH") this.measured.delete(streamID);
        continue;
      }
      const list = byRoom.get(roomID) || [];
      list.push({ streamID, m });
      byRoom.set(roomID, list);
    }
    for (const [roomID, list] of byRoom) {
      const chosen = list.slice(0, MAX_STREAMS);
      const streams = chosen.map(({ streamID, m }) => entryOf(streamID, m));
      try {
        await conn.request("reportQuality", { roomID, streams });
        for (const { streamID, m } of chosen) {
          m.fresh = false;
          m.stalls = 0;
          m.reconnects = 0;
          if (m.state === "NO_PLAY" || m.state === "NO_PUBLISH") this.measured.delete(streamID);
        }
      } catch (e) {
        // Disconnected meanwhile, or refused (a stream the room no longer has): the counts
        // wait for the next report; a refusal is only logged.
        const err = e as { code?: number; msg?: string };
        this.logger.debug(`quality report of ${roomID} not taken: ${err.code} ${err.msg}`);
      }
    }
  }
}

function entryOf(streamID: string, m: Measured): StreamQualityReport {
  const s = m.stats;
  const n = (v: number | undefined, max: number) => (typeof v === "number" && isFinite(v) && v >= 0 ? Math.min(v, max) : 0);
  const entry: StreamQualityReport = {
    streamID,
    role: m.role,
    videoKbps: n(s?.video.videoBitrate, 1e6),
    audioKbps: n(s?.audio.audioBitrate, 1e5),
    fps: n(s?.video.videoFPS, 240),
    width: Math.round(n(s?.video.frameWidth, 16384)),
    height: Math.round(n(s?.video.frameHeight, 16384)),
    stalls: Math.min(m.stalls, 1000),
    reconnects: Math.min(m.reconnects, 1000),
  };
  if (s && typeof s.video.videoCache === "number") entry.cacheMs = n(s.video.videoCache, 600000);
  // What only browsers measure (the Web SDK's stats: round trip in ms, loss as a rate 0-1).
  const web = s as unknown as { currentRoundTripTime?: number; peerToPeerDelay?: number; video?: { videoPacketsLostRate?: number } } | undefined;
  const rtt = web && (typeof web.currentRoundTripTime === "number" ? web.currentRoundTripTime : web.peerToPeerDelay);
  if (typeof rtt === "number") entry.rttMs = n(rtt, 60000);
  const loss = web && web.video && web.video.videoPacketsLostRate;
  if (typeof loss === "number") entry.lossPct = n(loss * 100, 100);
  return entry;
}
