/**
 * The `wx` APIs this SDK may call (docs: COMPAT.md §2), declared as narrowly as the SDK uses
 * them. Anything else is feature-detected at run time through `WxOptional`. Only the
 * mini-program adapter (engine.ts, wx_platform.ts, context.ts) may use them; src/core never does.
 */

interface WxSocketTask {
  send(options: { data: string; success?: () => void; fail?: (err: { errMsg: string }) => void }): void;
  close(options?: { code?: number; reason?: string }): void;
  onOpen(cb: () => void): void;
  onMessage(cb: (msg: { data: string | ArrayBuffer }) => void): void;
  onError(cb: (err: { errMsg: string }) => void): void;
  onClose(cb: (res: { code: number; reason: string }) => void): void;
}

interface WxRequestOptions {
  url: string;
  method?: "GET" | "POST";
  data?: string | object;
  header?: Record<string, string>;
  timeout?: number;
  success?: (res: { statusCode: number; data: unknown }) => void;
  fail?: (err: { errMsg: string }) => void;
}

interface WxLiveContext {
  play?(opts?: object): void;
  start?(opts?: object): void;
  stop(opts?: object): void;
}

interface Wx {
  connectSocket(options: { url: string; protocols?: string[]; timeout?: number }): WxSocketTask;
  request(options: WxRequestOptions): void;
  getSystemInfoSync(): { SDKVersion?: string; platform?: string; system?: string; version?: string };
  getStorageSync(key: string): unknown;
  setStorageSync(key: string, value: unknown): void;
  getNetworkType(options: { success?: (res: { networkType: string }) => void }): void;
  onNetworkStatusChange(cb: (res: { isConnected: boolean; networkType: string }) => void): void;
  onAppShow(cb: () => void): void;
  onAppHide(cb: () => void): void;
  createLivePusherContext(): WxLiveContext;
  createLivePlayerContext(id: string, component?: object): WxLiveContext;
}

declare const wx: Wx;

/** `wx` APIs outside COMPAT.md §2: used only after checking they exist. */
interface WxOptional {
  offNetworkStatusChange?(cb: (res: { isConnected: boolean; networkType: string }) => void): void;
  offAppShow?(cb: () => void): void;
}
