/**
 * Duet's SDK for WeChat mini-programs. The engine is exported as `DuetEngine` and, so pages
 * written for ZEGO's SDK run unchanged, as `ZegoExpressEngine`.
 */

import { DuetEngine, VERSION } from "./engine";

export { DuetEngine, VERSION };
export const ZegoExpressEngine = DuetEngine;
export { SdkError } from "./core/errors";
export { pusherTransition, playerTransition, qualityStats, isPushFailure } from "./codes";
export type { DuetPusher, DuetPlayer, PusherAttributes, PlayerAttributes } from "./context";
export * from "./core/types";
