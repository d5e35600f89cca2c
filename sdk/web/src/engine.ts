/**
 * The engine a Web page creates: the hosted cloud's Web API (`ZegoExpressEngine` of
 * `zego-express-engine-webrtc`) on Duet. Rooms, messages, the session and its recovery, and
 * the events are the API every SDK shares (sdk/miniprogram/src/core/engine_api.ts, here on the
 * browser adapter web_platform.ts); this adds the browser's media: local streams (capture.ts), publishing over
 * WHIP (publication.ts) and playing over WHEP (playback.ts) with the URLs signaling grants, and
 * quality from getStats (quality.ts).
 */

import { SharedEngine } from "../../miniprogram/src/core/engine_api";
import { streamIDProblem, VERSION } from "../../miniprogram/src/core/engine_core";
import { duetError, SdkError } from "../../miniprogram/src/core/errors";
import type { DuetError, DuetEvents } from "../../miniprogram/src/core/types";
import { capture, LocalStreamConfig, systemRequirements } from "./capture";
import { DeviceInfo, DeviceInfos, enumDevices, soundLevel } from "./devices";
import { Playback } from "./playback";
import { Publication } from "./publication";
import { Counters, playQuality, publishQuality, WebPlayStats, WebPublishStats } from "./quality";
import { webPlatform } from "./web_platform";

export { VERSION };

/** How often `publishQualityUpdate` and `playQualityUpdate` report each stream. */
const QUALITY_EVERY_MS = 3000;
/** The bounds of `setSoundLevelDelegate`'s interval. */
const SOUND_LEVEL_MS = { min: 100, max: 3000, default: 1000 };

export interface WebPublishOption {
  roomID?: string;
  extraInfo?: string;
  streamParams?: string;
  /** Duet takes H.264 over WebRTC; "VP8"/"H265" are refused. */
  videoCodec?: "H264" | "VP8" | "H265";
}

export interface WebPlayOption {
  video?: boolean;
  audio?: boolean;
  streamParams?: string;
}

/** The events of the Web engine: the core's, with the browser's quality shapes and screen sharing. */
export type WebEvents = Omit<DuetEvents, "publishQualityUpdate" | "playQualityUpdate" | "soundLevelUpdate"> & {
  publishQualityUpdate: (streamID: string, stats: WebPublishStats) => void;
  playQualityUpdate: (streamID: string, stats: WebPlayStats) => void;
  /** Every `setSoundLevelDelegate` interval: the level (0–100) of each stream published ("push") and played ("pull"). */
  soundLevelUpdate: (soundLevelList: { streamID: string; soundLevel: number; type: "push" | "pull" }[]) => void;
  screenSharingEnded: (stream: MediaStream) => void;
};
export type WebEventName = keyof WebEvents;

export class DuetEngine extends SharedEngine<WebEvents> {
  private readonly publications = new Map<string, Publication>();
  private readonly playbacks = new Map<string, Playback>();
  /** The previous report's counters of each stream, with the peer connection they came from. */
  private readonly counters = new Map<string, { pc: RTCPeerConnection; counters: Counters }>();
  private readonly mutedLocal = new WeakMap<MediaStream, { video: boolean; audio: boolean }>();
  private qualityTimer: ReturnType<typeof setInterval> | undefined;
  private soundTimer: ReturnType<typeof setInterval> | undefined;
  /** The last quality report of each stream (`get*StreamQuality`). */
  private readonly lastPublishStats = new Map<string, WebPublishStats>();
  private readonly lastPlayStats = new Map<string, WebPlayStats>();
  /** The latest start or stop of each played stream: an older call that finishes late gives way. */
  private readonly playCalls = new Map<string, number>();
  private playCallCount = 0;
  /** `muteAllPlay*Streams`: applies to streams played later too. */
  private readonly allPlayMuted = { video: false, audio: false };

  constructor(appID: number, server: string | string[]) {
    super(appID, server, webPlatform, ["screenSharingEnded"]);
    const presence = this.core.presence;
    presence.media = {
      unbindPusher: (streamID) => this.endPublication(streamID),
      unbindPlayer: (streamID) => this.endPlayback(streamID),
    };
    // Links waiting out a backoff try at once when trying is likely to work: the session is
    // back (the server too), or a played stream is announced again.
    this.core.emitter.listen("roomStateChanged", (_roomID, reason) => {
      if (reason !== "RECONNECTED") return;
      for (const p of this.publications.values()) p.soon();
      for (const p of this.playbacks.values()) p.soon();
    });
    this.core.emitter.listen("roomStreamUpdate", (_roomID, type, list) => {
      if (type !== "ADD") return;
      for (const s of list) {
        const p = this.playbacks.get(s.streamID);
        if (p) p.soon();
      }
    });
    // The server has no media of a stream whose link looks up (it lost it, or restarted and
    // was given the stream again): connect again at once rather than when the browser notices.
    this.core.emitter.listen("publisherStateUpdate", (r) => {
      if (r.state !== "PUBLISH_REQUESTING") return;
      const pub = this.publications.get(r.streamID);
      if (pub) pub.interrupted(r.errorCode);
    });
  }

  // ---- local streams -------------------------------------------------------------------

  /** Opens the camera and microphone (`{camera: {video, audio}}`, the default) or the screen (`{screen: true}`). */
  createStream(source?: LocalStreamConfig): Promise<MediaStream> {
    if (this.core.isDestroyed) return Promise.reject(duetError(SdkError.DESTROYED, "the engine was destroyed"));
    return capture(source, (stream) => this.emit("screenSharingEnded", stream));
  }

  /** Stops every track of a stream `createStream` made (stop publishing it first). */
  destroyStream(localStream: MediaStream): void {
    if (!localStream || typeof localStream.getTracks !== "function") return;
    for (const track of localStream.getTracks()) track.stop();
  }

  /** Sends black frames instead of the camera's (the track stays open), or the camera again. */
  mutePublishStreamVideo(localStream: MediaStream, mute: boolean): boolean {
    return this.muteLocal(localStream, "video", mute);
  }

  /** Sends silence instead of the microphone, or the microphone again. */
  mutePublishStreamAudio(localStream: MediaStream, mute: boolean): boolean {
    return this.muteLocal(localStream, "audio", mute);
  }

  // ---- publishing and playing ---------------------------------------------------------

  /**
   * Publishes `localStream` as `streamID` over WHIP. True when the publishing started; how it
   * goes is told by `publisherStateUpdate` (PUBLISH_REQUESTING, PUBLISHING, or NO_PUBLISH with
   * the error code). After a lost connection it publishes again by itself.
   */
  startPublishingStream(streamID: string, localStream: MediaStream, option?: WebPublishOption): boolean {
    const refuse = (why: string) => {
      this.core.logger.error(`startPublishingStream(${String(streamID)}): ${why}`);
      return false;
    };
    if (this.core.isDestroyed) return refuse("the engine was destroyed");
    const badID = streamIDProblem(streamID);
    if (badID) return refuse(badID);
    if (!localStream || typeof localStream.getVideoTracks !== "function") return refuse("localStream must be a MediaStream (from createStream)");
    if (localStream.getVideoTracks().length === 0) return refuse("the stream has no video track: Duet takes video (with or without audio) over WebRTC");
    if (option && option.videoCodec && option.videoCodec !== "H264") return refuse(`videoCodec ${option.videoCodec}: Duet takes H.264 only over WebRTC`);
    if (this.publications.has(streamID)) return refuse("already publishing this streamID");
    const publication = new Publication(streamID, localStream, {
      logger: this.core.logger,
      streams: this.core.presence.streams,
      whipURL: async (id, renew) => {
        const p = this.core.presence.streams.publishing.get(id);
        if (!p || !renew) return p ? p.whipURL : undefined;
        const grant = await this.core.renewPublishGrant(id);
        if (!grant) throw duetError(SdkError.CONNECTION_LOST, "not connected to the server (reconnecting)");
        return grant.whipURL;
      },
      release: (id) => this.core.stopPublishingStream(id),
    });
    this.publications.set(streamID, publication);
    this.core.startPublishingStream(streamID, { roomID: option && option.roomID, extraInfo: option && option.extraInfo, streamParams: option && option.streamParams }).then(
      (grant) => {
        if (this.publications.get(streamID) !== publication) {
          // Stopped before the reservation came back: release it (unless published again since).
          if (!this.publications.has(streamID)) this.core.stopPublishingStream(streamID);
          return;
        }
        if (!grant.whipURL) {
          this.core.presence.streams.setPublishState(streamID, "NO_PUBLISH", SdkError.NOT_SUPPORTED, "this Duet server offers no WHIP");
          this.core.stopPublishingStream(streamID);
          return;
        }
        publication.start();
        this.startQuality();
      },
      () => {
        // The core reported NO_PUBLISH with the refusal's code.
        if (this.publications.get(streamID) === publication) this.publications.delete(streamID);
      },
    );
    return true;
  }

  stopPublishingStream(streamID: string): boolean {
    const known = this.publications.has(streamID);
    const stopped = this.core.stopPublishingStream(streamID);
    this.endPublication(streamID);
    return stopped || known;
  }

  /**
   * Plays `streamID` over WHEP. Resolves with a MediaStream for a `<video>`'s `srcObject` once
   * the server took the play (or will, once the stream is live: it keeps trying); rejects when
   * the server refuses for good. The same MediaStream carries on through reconnections.
   */
  async startPlayingStream(streamID: string, option?: WebPlayOption): Promise<MediaStream> {
    if (this.core.isDestroyed) throw duetError(SdkError.DESTROYED, "the engine was destroyed");
    const opt = option || {};
    const call = this.newPlayCall(streamID);
    const superseded = () => this.playCalls.get(streamID) !== call;
    const cancelled = () => duetError(SdkError.CANCELLED, `startPlayingStream(${streamID}) was stopped or started again meanwhile`);
    if (this.playbacks.has(streamID)) this.endPlayback(streamID);
    const grant = await this.core.startPlayingStream(streamID, { streamParams: opt.streamParams });
    if (superseded()) throw cancelled();
    if (!grant.whepURL) {
      this.core.presence.streams.setPlayState(streamID, "NO_PLAY", SdkError.NOT_SUPPORTED, "this Duet server offers no WHEP");
      this.core.stopPlayingStream(streamID);
      throw duetError(SdkError.NOT_SUPPORTED, "this Duet server offers no WHEP");
    }
    const playback = new Playback(streamID, grant.whepURL, { video: opt.video !== false, audio: opt.audio !== false }, {
      logger: this.core.logger,
      streams: this.core.presence.streams,
      renewURL: async (id) => {
        const renewed = await this.core.renewPlayGrant(id, opt.streamParams);
        if (!renewed) throw duetError(SdkError.CONNECTION_LOST, "not connected to the server (reconnecting)");
        return renewed.whepURL;
      },
      release: (id) => this.core.stopPlayingStream(id),
    });
    if (this.allPlayMuted.video) playback.mute("video", true);
    if (this.allPlayMuted.audio) playback.mute("audio", true);
    this.playbacks.set(streamID, playback);
    this.startQuality();
    const refused: DuetError | undefined = await playback.start();
    if (refused) throw refused;
    if (superseded() || this.playbacks.get(streamID) !== playback) throw cancelled();
    return playback.stream;
  }

  stopPlayingStream(streamID: string): void {
    this.newPlayCall(streamID);
    this.core.stopPlayingStream(streamID);
    this.endPlayback(streamID);
  }

  mutePlayStreamVideo(streamID: string, mute: boolean): Promise<boolean> {
    const p = this.playbacks.get(streamID);
    if (p) p.mute("video", !!mute);
    return Promise.resolve(!!p);
  }

  mutePlayStreamAudio(streamID: string, mute: boolean): Promise<boolean> {
    const p = this.playbacks.get(streamID);
    if (p) p.mute("audio", !!mute);
    return Promise.resolve(!!p);
  }

  /** Mutes (or unmutes) the video of every stream played, now and later. */
  muteAllPlayVideoStreams(mute: boolean): Promise<boolean> {
    return Promise.resolve(this.muteAllPlayed("video", !!mute));
  }

  /** Mutes (or unmutes) the audio of every stream played, now and later. */
  muteAllPlayAudioStreams(mute: boolean): Promise<boolean> {
    return Promise.resolve(this.muteAllPlayed("audio", !!mute));
  }

  /** The last `publishQualityUpdate` of a stream, or null. */
  getPublishingStreamQuality(streamID: string): WebPublishStats | null {
    return this.lastPublishStats.get(streamID) || null;
  }

  /** The last `playQualityUpdate` of a stream, or null. */
  getPlayingStreamQuality(streamID: string): WebPlayStats | null {
    return this.lastPlayStats.get(streamID) || null;
  }

  // ---- devices and sound levels --------------------------------------------------------

  enumDevices(): Promise<DeviceInfos> {
    return enumDevices();
  }

  async getCameras(): Promise<DeviceInfo[]> {
    return (await enumDevices()).cameras;
  }

  async getMicrophones(): Promise<DeviceInfo[]> {
    return (await enumDevices()).microphones;
  }

  async getSpeakers(): Promise<DeviceInfo[]> {
    return (await enumDevices()).speakers;
  }

  /** Plays `media`'s sound on the speaker `deviceID` (where the browser can choose: `setSinkId`). */
  async useAudioOutputDevice(media: HTMLMediaElement, deviceID: string): Promise<boolean> {
    const sink = media as HTMLMediaElement & { setSinkId?: (id: string) => Promise<void> };
    if (!sink || typeof sink.setSinkId !== "function") return false;
    try {
      await sink.setSinkId(deviceID);
      return true;
    } catch (e) {
      this.core.logger.warn(`useAudioOutputDevice(${deviceID}): ${String(e)}`);
      return false;
    }
  }

  /**
   * Reports sound levels every `interval` ms (100–3000, default 1000) while enabled:
   * `soundLevelUpdate` for every stream published and played, `capturedSoundLevelUpdate`
   * for the first one published.
   */
  setSoundLevelDelegate(enable: boolean, interval?: number): void {
    clearInterval(this.soundTimer);
    this.soundTimer = undefined;
    if (!enable || this.core.isDestroyed) return;
    const every = Math.min(SOUND_LEVEL_MS.max, Math.max(SOUND_LEVEL_MS.min, Number(interval) || SOUND_LEVEL_MS.default));
    this.soundTimer = setInterval(() => void this.reportSoundLevels(), every);
  }

  // ---- logs, system and life ----------------------------------------------------------

  /** Whether this browser can publish and play with Duet (WebRTC with H.264), and its devices. */
  checkSystemRequirements(): ReturnType<typeof systemRequirements> {
    return systemRequirements();
  }

  /** Stops publishing and playing, logs out of every room and closes the connection. */
  destroyEngine(): void {
    if (this.core.isDestroyed) return;
    for (const id of [...this.publications.keys()]) this.stopPublishingStream(id);
    for (const id of [...this.playbacks.keys()]) this.stopPlayingStream(id);
    this.core.destroy();
    clearInterval(this.qualityTimer);
    this.qualityTimer = undefined;
    clearInterval(this.soundTimer);
    this.soundTimer = undefined;
  }

  // ---- inside -------------------------------------------------------------------------

  /** Emits an event whose arguments are the browser's (the core's emitter knows the core's shapes). */
  private emit<E extends WebEventName>(event: E, ...args: Parameters<WebEvents[E]>): void {
    (this.core.emitter as unknown as { emit(e: string, ...a: unknown[]): void }).emit(event, ...args);
  }

  private endPublication(streamID: string): void {
    const p = this.publications.get(streamID);
    if (!p) return;
    this.publications.delete(streamID);
    this.counters.delete(`publish:${streamID}`);
    this.lastPublishStats.delete(streamID);
    p.stop();
  }

  private endPlayback(streamID: string): void {
    const p = this.playbacks.get(streamID);
    if (!p) return;
    this.playbacks.delete(streamID);
    this.counters.delete(`play:${streamID}`);
    this.lastPlayStats.delete(streamID);
    p.stop();
  }

  private muteLocal(stream: MediaStream, kind: "video" | "audio", mute: boolean): boolean {
    if (!stream || typeof stream.getTracks !== "function") return false;
    const tracks = stream.getTracks().filter((t) => t.kind === kind);
    for (const track of tracks) track.enabled = !mute;
    const state = this.mutedLocal.get(stream) || { video: false, audio: false };
    state[kind] = !!mute;
    this.mutedLocal.set(stream, state);
    return tracks.length > 0;
  }

  /** Marks a start or stop of `streamID` as the latest. */
  private newPlayCall(streamID: string): number {
    this.playCallCount += 1;
    this.playCalls.set(streamID, this.playCallCount);
    return this.playCallCount;
  }

  private muteAllPlayed(kind: "video" | "audio", mute: boolean): boolean {
    this.allPlayMuted[kind] = mute;
    for (const p of this.playbacks.values()) p.mute(kind, mute);
    return true;
  }

  private async reportSoundLevels(): Promise<void> {
    const list: { streamID: string; soundLevel: number; type: "push" | "pull" }[] = [];
    for (const [streamID, pub] of this.publications) {
      const pc = pub.peer;
      if (pc) list.push({ streamID, soundLevel: await soundLevel(pc, "send"), type: "push" });
    }
    for (const [streamID, play] of this.playbacks) {
      const pc = play.peer;
      if (pc) list.push({ streamID, soundLevel: await soundLevel(pc, "receive"), type: "pull" });
    }
    if (this.soundTimer === undefined || list.length === 0) return;
    const captured = list.find((l) => l.type === "push");
    if (captured) this.emit("capturedSoundLevelUpdate", captured.soundLevel);
    this.emit("soundLevelUpdate", list);
  }

  /** Reports the quality of every connected stream every few seconds while there is any. */
  private startQuality(): void {
    if (this.qualityTimer !== undefined) return;
    this.qualityTimer = setInterval(() => void this.reportQuality(), QUALITY_EVERY_MS);
  }

  /** The counters of the previous report of `key`, if it came from the same peer connection. */
  private before(key: string, pc: RTCPeerConnection): Counters | undefined {
    const previous = this.counters.get(key);
    return previous && previous.pc === pc ? previous.counters : undefined;
  }

  private async reportQuality(): Promise<void> {
    if (this.publications.size === 0 && this.playbacks.size === 0) {
      clearInterval(this.qualityTimer);
      this.qualityTimer = undefined;
      return;
    }
    for (const [id, pub] of this.publications) {
      const pc = pub.peer;
      if (!pc) continue;
      const key = `publish:${id}`;
      const muted = this.mutedLocal.get(pub.stream) || { video: false, audio: false };
      const { stats, counters } = publishQuality(await pc.getStats(), this.before(key, pc), Date.now(), muted);
      if (this.publications.get(id) !== pub) continue;
      this.counters.set(key, { pc, counters });
      this.lastPublishStats.set(id, stats);
      this.emit("publishQualityUpdate", id, stats);
    }
    for (const [id, play] of this.playbacks) {
      const pc = play.peer;
      if (!pc) continue;
      const key = `play:${id}`;
      const { stats, counters } = playQuality(await pc.getStats(), this.before(key, pc), Date.now(), play.muted);
      if (this.playbacks.get(id) !== play) continue;
      this.counters.set(key, { pc, counters });
      this.lastPlayStats.set(id, stats);
      this.emit("playQualityUpdate", id, stats);
    }
  }
}
