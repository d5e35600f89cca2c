/**
 * Browser adapter: the core's `Platform` (core/platform.ts) on the browser's WebSocket, fetch
 * and localStorage, with the page's `online` and `visibilitychange` events as wake-up hints.
 */

import type { Platform } from "../../miniprogram/src/core/platform";

export const webPlatform: Platform = {
  connect(url, timeoutMs, events) {
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    let settled = false;
    // The browser's WebSocket has no open timeout of its own.
    const timer = setTimeout(() => {
      if (socket.readyState === WebSocket.CONNECTING) {
        events.error(`no connection to ${url} within ${timeoutMs} ms`);
        socket.close();
      }
    }, timeoutMs);
    socket.onopen = () => clearTimeout(timer);
    socket.onmessage = (msg) => events.message(msg.data as string | ArrayBuffer);
    socket.onerror = () => events.error(`socket error on ${url}`);
    socket.onclose = (e) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      events.closed(e.code);
    };
    return {
      send(text, failed) {
        if (socket.readyState !== WebSocket.OPEN) return failed();
        try {
          socket.send(text);
        } catch {
          failed();
        }
      },
      close() {
        clearTimeout(timer);
        try {
          socket.close(1000, "bye");
        } catch {
          // Closing a socket that never opened may throw in old browsers; it is gone either way.
        }
      },
    };
  },

  async postJSON(url, body, timeoutMs) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const res = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json" }, signal: abort.signal, keepalive: body.length < 60000 });
      return res.status;
    } catch {
      return 0;
    } finally {
      clearTimeout(timer);
    }
  },

  load(key) {
    try {
      return window.localStorage.getItem(key) || "";
    } catch {
      return ""; // storage disabled (private mode, sandboxed frame)
    }
  },

  save(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch {
      // Best effort: a full or disabled storage only costs a fresh device ID.
    }
  },

  onWake(wake) {
    const visible = () => {
      if (document.visibilityState === "visible") wake();
    };
    window.addEventListener("online", wake);
    document.addEventListener("visibilitychange", visible);
    return () => {
      window.removeEventListener("online", wake);
      document.removeEventListener("visibilitychange", visible);
    };
  },
};
