/**
 * The engine a mini-program page creates: the public API of COMPAT.md §1. The API every SDK
 * shares (core/engine_api.ts: rooms, messages, events, on the core's session and recovery)
 * runs on the `wx` platform (wx_platform.ts); this adds what only a mini-program has: the page's
 * <live-pusher>/<live-player> data (context.ts), the components' event codes (codes.ts), and
 * routing the duet-pusher/duet-player components' events to the right engine.
 */

import { componentState, qualityStats } from "./codes";
import { DuetPlayer, DuetPusher, PageBinding, PlayerAttributes, PusherAttributes, WxContext } from "./context";
import { SharedEngine } from "./core/engine_api";
import { VERSION } from "./core/engine_core";
import type { DuetEvents, PlayOption, PublishOption } from "./core/types";
import { checkSystemRequirements, SystemRequirements, wxPlatform } from "./wx_platform";

export { VERSION };

/** Live engines, so the duet-pusher/duet-player components can hand their events to the right one. */
const ENGINES = new Set<DuetEngine>();

/**
 * Passes a component's event to the engine bound (initContext) to the page that holds the
 * component, or, when that is unknown, to every live engine (only one that publishes or plays
 * `id` acts).
 */
export function routeComponentEvent(kind: "state" | "net" | "volume", id: string, event: any, owner?: object): void {
  const all = [...ENGINES];
  const bound = all.filter((e) => owner !== undefined && e.boundTo(owner));
  for (const engine of bound.length > 0 ? bound : all) {
    if (kind === "state") engine.updatePlayerState(id, event);
    else if (kind === "net") engine.updatePlayerNetStatus(id, event);
    else engine.updateAudioVolumeNotify(id, event);
  }
}

export class DuetEngine extends SharedEngine<DuetEvents> {
  private binding: PageBinding | undefined;

  constructor(appID: number, server: string | string[]) {
    super(appID, server, wxPlatform);
    ENGINES.add(this);
  }

  // ---- publishing and playing ---------------------------------------------------------

  /** Resolves with the URL for `<live-pusher url>`; while reconnecting, once the session is back. */
  startPublishingStream(streamID: string, option?: PublishOption): Promise<{ streamID: string; url: string }> {
    return this.core.startPublishingStream(streamID, option);
  }

  stopPublishingStream(streamID: string): boolean {
    return this.core.stopPublishingStream(streamID);
  }

  /** Resolves with the URL for `<live-player src>`. */
  startPlayingStream(streamID: string, option?: PlayOption): Promise<{ streamID: string; url: string }> {
    return this.core.startPlayingStream(streamID, option);
  }

  stopPlayingStream(streamID: string): void {
    this.core.stopPlayingStream(streamID);
  }

  getNextUrl(streamID: string): string {
    return this.core.getNextUrl(streamID);
  }

  // ---- WeChat component events --------------------------------------------------------

  updatePlayerState(id: string, event: { detail?: { code?: number } }): void {
    const code = event && event.detail ? Number(event.detail.code) : NaN;
    if (isFinite(code)) componentState(this.core.presence.streams, this.core.logger, id, code);
  }

  updatePlayerNetStatus(id: string, event: { detail?: { info?: Record<string, unknown> } }): void {
    const info = event && event.detail && event.detail.info;
    if (info && typeof info === "object") this.core.presence.streams.quality(id, (soundLevel) => qualityStats(info, soundLevel));
  }

  updateAudioVolumeNotify(id: string, event: { detail?: { volume?: number } }): void {
    const volume = event && event.detail ? Number(event.detail.volume) : NaN;
    if (isFinite(volume)) this.core.presence.streams.volume(id, volume);
  }

  // ---- component mode -----------------------------------------------------------------

  initContext(options: { wxContext: WxContext; pushAtr?: string; playAtr?: string }): void {
    const ctx = options && options.wxContext;
    if (!ctx || typeof ctx.setData !== "function") {
      this.core.logger.error("initContext: wxContext must be the Page or Component (this)");
      return;
    }
    this.binding = new PageBinding(ctx, options.pushAtr || "pusher", options.playAtr || "playerList");
    this.core.presence.media = this.binding;
    ctx.setData({ [this.binding.pushAtr]: {}, [this.binding.playAtr]: [] });
  }

  /** Whether `initContext` bound this engine to `page`. */
  boundTo(page: object): boolean {
    return !!this.binding && this.binding.page === page;
  }

  createPusher(attrs?: Partial<PusherAttributes>): DuetPusher | null {
    const binding = this.needBinding("createPusher");
    return binding ? binding.createPusher(this, attrs || {}) : null;
  }

  getPusherInstance(): DuetPusher | null {
    return (this.binding && this.binding.pusher) || null;
  }

  getPlayerInstance(streamID: string): DuetPlayer | null {
    const binding = this.needBinding("getPlayerInstance");
    return binding && typeof streamID === "string" && streamID.length > 0 ? binding.player(this, streamID) : null;
  }

  setPusherAttributes(attrs: Partial<PusherAttributes>): boolean {
    return !!this.binding && this.binding.setPusherAttributes(attrs);
  }

  setPlayerAttributes(streamID: string, attrs: Partial<PlayerAttributes>): boolean {
    return !!this.binding && this.binding.setPlayerAttributes(streamID, attrs);
  }

  getPlayerList(streamID?: string): PlayerAttributes[] | PlayerAttributes | null {
    if (!this.binding) return streamID === undefined ? [] : null;
    return this.binding.listed(streamID);
  }

  mutePublishStreamVideo(mute: boolean): void {
    this.setPusherAttributes({ enableCamera: !mute });
  }

  mutePublishStreamAudio(mute: boolean): void {
    this.setPusherAttributes({ enableMic: !mute });
  }

  mutePlayStreamVideo(streamID: string, mute: boolean): void {
    this.setPlayerAttributes(streamID, { muteVideo: !!mute });
  }

  mutePlayStreamAudio(streamID: string, mute: boolean): void {
    this.setPlayerAttributes(streamID, { muteAudio: !!mute });
  }

  // ---- logs, system and life ----------------------------------------------------------

  checkSystemRequirements(): Promise<SystemRequirements> {
    return Promise.resolve(checkSystemRequirements());
  }

  destroyEngine(): void {
    if (this.core.isDestroyed) return;
    this.core.destroy();
    ENGINES.delete(this);
    this.binding = undefined;
  }

  private needBinding(api: string): PageBinding | undefined {
    if (!this.binding) this.core.logger.error(`${api}: call initContext({wxContext: this, pushAtr, playAtr}) first`);
    return this.binding;
  }
}
