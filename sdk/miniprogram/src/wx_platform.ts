/**
 * Mini-program adapter: the core's `Platform` (core/platform.ts) on the `wx` APIs COMPAT.md §2
 * allows (connectSocket, request, storage, network and app-show events), and the WeChat
 * version check behind `checkSystemRequirements`.
 */

import { SdkError } from "./core/errors";
import type { Platform } from "./core/platform";

export const wxPlatform: Platform = {
  connect(url, timeoutMs, events) {
    const task = wx.connectSocket({ url, timeout: timeoutMs });
    task.onMessage((msg) => events.message(msg.data));
    task.onError((err) => events.error(err && err.errMsg ? err.errMsg : "socket error"));
    task.onClose((res) => events.closed(res && res.code));
    return {
      send: (text, failed) => task.send({ data: text, fail: failed }),
      close: () => task.close({ code: 1000, reason: "bye" }),
    };
  },

  postJSON(url, body, timeoutMs) {
    return new Promise((resolve) => {
      wx.request({
        url,
        method: "POST",
        data: body,
        header: { "content-type": "application/json" },
        timeout: timeoutMs,
        success: (res) => resolve(res.statusCode),
        fail: () => resolve(0),
      });
    });
  },

  load(key) {
    const value = wx.getStorageSync(key);
    return typeof value === "string" ? value : "";
  },

  save(key, value) {
    wx.setStorageSync(key, value);
  },

  onWake(wake) {
    const network: WechatMiniprogram.OnNetworkStatusChangeCallback = (res) => {
      if (res && res.isConnected) wake();
    };
    wx.onNetworkStatusChange(network);
    wx.onAppShow(wake);
    return () => {
      // Not in every base library (COMPAT.md §2 lists only the on* ones): used when present.
      // WeChat removes the listener it was given (by identity); the typings declare the
      // off-callback's argument as a general result, not the on-callback's.
      const off = network as unknown as WechatMiniprogram.OffNetworkStatusChangeCallback;
      if (typeof wx.offNetworkStatusChange === "function") wx.offNetworkStatusChange(off);
      if (typeof wx.offAppShow === "function") wx.offAppShow(wake);
    };
  },
};

export interface SystemRequirements {
  result: boolean;
  code: number;
  msg: string;
  platform: string;
  SDKVersion: string;
}

/** Whether this WeChat has <live-pusher>/<live-player> and a base library of 2.10.0 or later. */
export function checkSystemRequirements(): SystemRequirements {
  let info: { SDKVersion?: string; platform?: string } = {};
  try {
    info = wx.getSystemInfoSync() || {};
  } catch {
    // Treated as unknown below.
  }
  const sdk = info.SDKVersion || "0.0.0";
  const live = typeof wx.createLivePusherContext === "function" && typeof wx.createLivePlayerContext === "function";
  const recent = compareVersions(sdk, "2.10.0") >= 0;
  const result = live && recent;
  const msg = result ? "ok" : !live ? "this WeChat has no <live-pusher>/<live-player>" : `WeChat base library ${sdk} is older than 2.10.0`;
  return { result, code: result ? 0 : SdkError.NOT_SUPPORTED, msg, platform: info.platform || "unknown", SDKVersion: sdk };
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] || 0) - (pb[i] || 0);
    if (d !== 0) return d > 0 ? 1 : -1;
  }
  return 0;
}
