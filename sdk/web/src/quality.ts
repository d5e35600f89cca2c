/**
 * Call quality from the browser's own statistics (`RTCPeerConnection.getStats`), in the shapes
 * of the hosted cloud's Web SDK (`publishQualityUpdate`, `playQualityUpdate`): bitrates and
 * frame rates over the time since the previous report of the same stream, loss, jitter and
 * round-trip time, and a 0–4 quality grade (0 excellent … 4 unusable) from loss and delay.
 */

/** What the publish and play reports say of a stream's video. */
interface VideoStats {
  videoBitrate: number;
  videoFPS: number;
  videoTransferFPS: number;
  frameWidth: number;
  frameHeight: number;
  videoPacketsLost: number;
  videoPacketsLostRate: number;
  videoQuality: number;
  googCodecName: string;
  muteState: "0" | "1";
}

/** What the publish and play reports say of a stream's audio. */
interface AudioStats {
  audioBitrate: number;
  audioFPS: number;
  audioPacketsLost: number;
  audioPacketsLostRate: number;
  audioQuality: number;
  audioCodec: string;
  googCodecName: string;
  muteState: "0" | "1";
}

export interface WebPublishStats {
  video: VideoStats;
  audio: AudioStats;
  /** Round-trip time to the server in ms (from RTCP), 0 when not known yet. */
  currentRoundTripTime: number;
}

export interface WebPlayStats {
  video: VideoStats & { videoFramesDecoded: number; videoFramesDropped: number };
  audio: AudioStats & { audioJitter: number; audioLevel: number };
  peerToPeerDelay: number | undefined;
  peerToPeerPacketLostRate: number | undefined;
}

/** The counters a rate is made of, kept from one report to the next. */
export interface Counters {
  at: number;
  [key: string]: number;
}

type Stat = Record<string, any>;

function all(report: RTCStatsReport): Stat[] {
  const out: Stat[] = [];
  report.forEach((s) => out.push(s as Stat));
  return out;
}

function find(stats: Stat[], type: string, kind: string): Stat {
  return stats.find((s) => s.type === type && s.kind === kind) || {};
}

function codecOf(stats: Stat[], rtp: Stat): string {
  const codec = stats.find((s) => s.type === "codec" && s.id === rtp.codecId);
  return codec && typeof codec.mimeType === "string" ? codec.mimeType.split("/")[1] || "" : "";
}

const num = (v: unknown): number => (typeof v === "number" && isFinite(v) ? v : 0);

/** Per second of `now` − `before` over `seconds` (0 when there is no earlier report). */
function rate(now: number, before: number | undefined, seconds: number): number {
  return before === undefined || seconds <= 0 || now < before ? 0 : (now - before) / seconds;
}

/** 0 excellent, 1 good, 2 fair, 3 poor, 4 unusable: from the loss rate (0–1) and round-trip ms. */
export function grade(lossRate: number, rttMs: number): number {
  if (lossRate > 0.3 || rttMs > 1500) return 4;
  if (lossRate > 0.1 || rttMs > 600) return 3;
  if (lossRate > 0.03 || rttMs > 300) return 2;
  if (lossRate > 0.01 || rttMs > 150) return 1;
  return 0;
}

const lossRate = (lost: number, received: number): number => (lost + received > 0 ? lost / (lost + received) : 0);

/** What a publisher's statistics say, against the counters of its previous report. */
export function publishQuality(report: RTCStatsReport, before: Counters | undefined, now: number, muted: { video: boolean; audio: boolean }): { stats: WebPublishStats; counters: Counters } {
  const stats = all(report);
  const video = find(stats, "outbound-rtp", "video");
  const audio = find(stats, "outbound-rtp", "audio");
  const videoRemote = find(stats, "remote-inbound-rtp", "video");
  const audioRemote = find(stats, "remote-inbound-rtp", "audio");
  const source = find(stats, "media-source", "video");
  const seconds = before ? (now - before.at) / 1000 : 0;
  const counters: Counters = { at: now, vBytes: num(video.bytesSent), vFrames: num(video.framesSent), aBytes: num(audio.bytesSent), aPackets: num(audio.packetsSent) };
  const rttMs = num(videoRemote.roundTripTime || audioRemote.roundTripTime) * 1000;
  const vLoss = num(videoRemote.fractionLost);
  const aLoss = num(audioRemote.fractionLost);
  return {
    counters,
    stats: {
      video: {
        videoBitrate: (rate(counters.vBytes, before && before.vBytes, seconds) * 8) / 1000,
        videoFPS: num(source.framesPerSecond) || num(video.framesPerSecond),
        videoTransferFPS: rate(counters.vFrames, before && before.vFrames, seconds),
        frameWidth: num(video.frameWidth),
        frameHeight: num(video.frameHeight),
        videoPacketsLost: num(videoRemote.packetsLost),
        videoPacketsLostRate: vLoss,
        videoQuality: grade(vLoss, rttMs),
        googCodecName: codecOf(stats, video),
        muteState: muted.video ? "1" : "0",
      },
      audio: {
        audioBitrate: (rate(counters.aBytes, before && before.aBytes, seconds) * 8) / 1000,
        audioFPS: rate(counters.aPackets, before && before.aPackets, seconds),
        audioPacketsLost: num(audioRemote.packetsLost),
        audioPacketsLostRate: aLoss,
        audioQuality: grade(aLoss, rttMs),
        audioCodec: codecOf(stats, audio).toLowerCase(),
        googCodecName: codecOf(stats, audio),
        muteState: muted.audio ? "1" : "0",
      },
      currentRoundTripTime: rttMs,
    },
  };
}

/** What a player's statistics say, against the counters of its previous report. */
export function playQuality(report: RTCStatsReport, before: Counters | undefined, now: number, muted: { video: boolean; audio: boolean }): { stats: WebPlayStats; counters: Counters } {
  const stats = all(report);
  const video = find(stats, "inbound-rtp", "video");
  const audio = find(stats, "inbound-rtp", "audio");
  const pair = stats.find((s) => s.type === "candidate-pair" && s.nominated && s.state === "succeeded") || {};
  const seconds = before ? (now - before.at) / 1000 : 0;
  const counters: Counters = {
    at: now,
    vBytes: num(video.bytesReceived),
    vFrames: num(video.framesReceived),
    vDecoded: num(video.framesDecoded),
    vLost: num(video.packetsLost),
    vReceived: num(video.packetsReceived),
    aBytes: num(audio.bytesReceived),
    aLost: num(audio.packetsLost),
    aReceived: num(audio.packetsReceived),
  };
  const since = (key: string) => Math.max(0, counters[key] - (before ? before[key] : 0));
  const vLoss = lossRate(since("vLost"), since("vReceived"));
  const aLoss = lossRate(since("aLost"), since("aReceived"));
  const rttMs = num(pair.currentRoundTripTime) * 1000;
  return {
    counters,
    stats: {
      video: {
        videoBitrate: (rate(counters.vBytes, before && before.vBytes, seconds) * 8) / 1000,
        videoFPS: rate(counters.vDecoded, before && before.vDecoded, seconds),
        videoTransferFPS: rate(counters.vFrames, before && before.vFrames, seconds),
        frameWidth: num(video.frameWidth),
        frameHeight: num(video.frameHeight),
        videoPacketsLost: counters.vLost,
        videoPacketsLostRate: vLoss,
        videoQuality: grade(vLoss, rttMs),
        videoFramesDecoded: counters.vDecoded,
        videoFramesDropped: num(video.framesDropped),
        googCodecName: codecOf(stats, video),
        muteState: muted.video ? "1" : "0",
      },
      audio: {
        audioBitrate: (rate(counters.aBytes, before && before.aBytes, seconds) * 8) / 1000,
        audioFPS: rate(counters.aReceived, before && before.aReceived, seconds),
        audioJitter: num(audio.jitter) * 1000,
        audioLevel: num(audio.audioLevel),
        audioPacketsLost: counters.aLost,
        audioPacketsLostRate: aLoss,
        audioQuality: grade(aLoss, rttMs),
        audioCodec: codecOf(stats, audio).toLowerCase(),
        googCodecName: codecOf(stats, audio),
        muteState: muted.audio ? "1" : "0",
      },
      peerToPeerDelay: rttMs || undefined,
      peerToPeerPacketLostRate: undefined,
    },
  };
}
