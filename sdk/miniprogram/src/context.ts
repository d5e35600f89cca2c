/**
 * Mini-program adapter: the page side of component mode (`initContext`): the pusher object at
 * `data[pushAtr]` and the player array at `data[playAtr]` that `<live-pusher>`/`<live-player>`
 * (or the duet-pusher and duet-player components) are bound to, kept current through the page's
 * `setData`. It is the core's `MediaBinding` for the page.
 */

import type { MediaBinding } from "./core/platform";
import type { PlayOption, PublishOption } from "./core/types";

export interface PusherAttributes {
  id: string;
  url: string;
  mode: "SD" | "HD" | "FHD" | "RTC";
  autopush: boolean;
  enableCamera: boolean;
  enableMic: boolean;
  enableAgc: boolean;
  enableAns: boolean;
  enableEarMonitor: boolean;
  enableAutoFocus: boolean;
  enableZoom: boolean;
  minBitrate: number;
  maxBitrate: number;
  videoWidth: number;
  videoHeight: number;
  videoAspect: string;
  beautyLevel: number;
  beautyStyle: string;
  whitenessLevel: number;
  videoOrientation: string;
  frontCamera: "front" | "back";
  enableRemoteMirror: boolean;
  localMirror: string;
  enableBackgroundMute: boolean;
  audioQuality: string;
  audioVolumeType: string;
  audioReverbType: number;
  waitingImage: string;
  filter: string;
}

export interface PlayerAttributes {
  id: string;
  streamID: string;
  url: string;
  mode: "RTC" | "live";
  autoplay: boolean;
  muteAudio: boolean;
  muteVideo: boolean;
  orientation: string;
  objectFit: string;
  minCache: number;
  maxCache: number;
  soundMode: string;
  enableRecvMessage: boolean;
  autoPauseIfNavigate: boolean;
  autoPauseIfOpenNative: boolean;
}

export const DEFAULT_PUSHER: PusherAttributes = {
  id: "",
  url: "",
  mode: "RTC",
  autopush: true,
  enableCamera: true,
  enableMic: true,
  enableAgc: false,
  enableAns: false,
  enableEarMonitor: false,
  enableAutoFocus: true,
  enableZoom: false,
  minBitrate: 200,
  maxBitrate: 1000,
  videoWidth: 360,
  videoHeight: 640,
  videoAspect: "9:16",
  beautyLevel: 0,
  beautyStyle: "smooth",
  whitenessLevel: 0,
  videoOrientation: "vertical",
  frontCamera: "front",
  enableRemoteMirror: false,
  localMirror: "auto",
  enableBackgroundMute: false,
  audioQuality: "high",
  audioVolumeType: "auto",
  audioReverbType: 0,
  waitingImage: "",
  filter: "standard",
};

export function defaultPlayer(streamID: string): PlayerAttributes {
  return {
    id: streamID,
    streamID,
    url: "",
    mode: "RTC",
    autoplay: true,
    muteAudio: false,
    muteVideo: false,
    orientation: "vertical",
    objectFit: "contain",
    minCache: 1,
    maxCache: 3,
    soundMode: "speaker",
    enableRecvMessage: false,
    autoPauseIfNavigate: true,
    autoPauseIfOpenNative: true,
  };
}

/** A Page or Component: what `initContext({wxContext})` needs of it. */
export interface WxContext {
  data: Record<string, any>;
  setData(patch: Record<string, unknown>, cb?: () => void): void;
}

/** What pushers and players need from the engine. */
export interface MediaControl {
  startPublishingStream(streamID: string, option?: PublishOption): Promise<{ streamID: string; url: string }>;
  stopPublishingStream(streamID: string): boolean;
  startPlayingStream(streamID: string, option?: PlayOption): Promise<{ streamID: string; url: string }>;
  stopPlayingStream(streamID: string): void;
}

/** Owns `data[pushAtr]` and `data[playAtr]` of one page. */
export class PageBinding implements MediaBinding {
  pusher: DuetPusher | undefined;
  /** Players by streamID; those with `listed` appear in the page's player array. */
  players = new Map<string, DuetPlayer>();

  constructor(
    readonly page: WxContext,
    readonly pushAtr: string,
    readonly playAtr: string,
  ) {}

  renderPusher(then?: () => void): void {
    if (this.pusher) this.page.setData({ [this.pushAtr]: { ...this.pusher.attributes } }, then);
  }

  renderPlayers(): void {
    const list = [...this.players.values()].filter((p) => p.listed).map((p) => ({ ...p.attributes }));
    this.page.setData({ [this.playAtr]: list });
  }

  /** A new pusher with `attrs`; one already pushing keeps its stream and URL. */
  createPusher(media: MediaControl, attrs: Partial<PusherAttributes>): DuetPusher {
    const old = this.pusher;
    this.pusher = new DuetPusher(media, this, attrs);
    if (old && old.attributes.url) {
      this.pusher.attributes.id = old.attributes.id;
      this.pusher.attributes.url = old.attributes.url;
    }
    this.renderPusher();
    return this.pusher;
  }

  /** The player of `streamID`, made on first use (it joins the list when it plays). */
  player(media: MediaControl, streamID: string): DuetPlayer {
    let player = this.players.get(streamID);
    if (!player) {
      player = new DuetPlayer(media, this, streamID);
      this.players.set(streamID, player);
    }
    return player;
  }

  /** Changes pusher attributes other than `url` and `id` (those are the SDK's). */
  setPusherAttributes(attrs: Partial<PusherAttributes>): boolean {
    if (!this.pusher || !attrs) return false;
    const { url: _url, id: _id, ...rest } = attrs;
    Object.assign(this.pusher.attributes, rest);
    this.renderPusher();
    return true;
  }

  /** Changes a player's attributes other than `url`, `id` and `streamID`. */
  setPlayerAttributes(streamID: string, attrs: Partial<PlayerAttributes>): boolean {
    const player = this.players.get(streamID);
    if (!player || !attrs) return false;
    const { url: _url, id: _id, streamID: _s, ...rest } = attrs;
    Object.assign(player.attributes, rest);
    if (player.listed) this.renderPlayers();
    return true;
  }

  /** The players in the page's list (all, or the one of `streamID`). */
  listed(streamID?: string): PlayerAttributes[] | PlayerAttributes | null {
    const listed = [...this.players.values()].filter((p) => p.listed).map((p) => p.attributes);
    if (streamID === undefined) return listed;
    return listed.find((p) => p.streamID === streamID) || null;
  }

  /** The publishing of `streamID` ended: <live-pusher> loses its URL if it was that stream's. */
  unbindPusher(streamID: string): void {
    if (this.pusher && this.pusher.attributes.id === streamID) this.pusher.unbind();
  }

  /** The playing of `streamID` ended: its player leaves the list. */
  unbindPlayer(streamID: string): void {
    const player = this.players.get(streamID);
    if (player) player.unbind();
  }
}

/** The pusher of component mode: `start` publishes and binds the URL, `stop` unbinds it. */
export class DuetPusher {
  attributes: PusherAttributes;

  constructor(
    private readonly media: MediaControl,
    private readonly binding: PageBinding,
    attrs: Partial<PusherAttributes>,
  ) {
    this.attributes = { ...DEFAULT_PUSHER, ...attrs, url: "" };
  }

  async start(streamID: string, publishOption?: PublishOption): Promise<{ streamID: string; url: string }> {
    const result = await this.media.startPublishingStream(streamID, publishOption);
    this.attributes.id = streamID;
    this.attributes.url = result.url;
    // Without autopush the pusher is started once <live-pusher> exists (after the render).
    this.binding.renderPusher(() => {
      if (!this.attributes.autopush) startContext(wx.createLivePusherContext());
    });
    return result;
  }

  stop(): void {
    if (this.attributes.id) this.media.stopPublishingStream(this.attributes.id);
    this.unbind();
  }

  /** Takes the URL away from <live-pusher>, which stops pushing. */
  unbind(): void {
    if (!this.attributes.url) return;
    this.attributes.url = "";
    this.binding.renderPusher();
  }
}

/** One remote stream's player in component mode. */
export class DuetPlayer {
  attributes: PlayerAttributes;
  listed = false;

  constructor(
    private readonly media: MediaControl,
    private readonly binding: PageBinding,
    readonly streamID: string,
  ) {
    this.attributes = defaultPlayer(streamID);
  }

  async play(playOption?: PlayOption): Promise<{ streamID: string; url: string }> {
    const result = await this.media.startPlayingStream(this.streamID, playOption);
    this.attributes.url = result.url;
    this.listed = true;
    this.binding.renderPlayers();
    return result;
  }

  stop(): void {
    this.media.stopPlayingStream(this.streamID);
    this.unbind();
  }

  unbind(): void {
    if (!this.listed) return;
    this.listed = false;
    this.attributes.url = "";
    this.binding.renderPlayers();
  }
}

function startContext(ctx: WechatMiniprogram.LivePusherContext | undefined): void {
  if (ctx && typeof ctx.start === "function") ctx.start({});
}
