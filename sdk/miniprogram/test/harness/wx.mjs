// A faithful `wx` for Node: the APIs COMPAT.md §2 allows, over real sockets. connectSocket is a
// real WebSocket (the `ws` package), request is a real HTTP request (fetch). The test can take
// the network away from some or all addresses (`network.down(part)`: sockets drop, new ones
// fail) and give it back (`network.up(part)`: onNetworkStatusChange fires), and see the
// live-pusher/player contexts.
import WebSocket from "ws";

const networkListeners = new Set();
const appShowListeners = new Set();
const sockets = new Set();
const storage = new Map();
/** URL fragments the network is down for; "" means every URL. */
const blocked = new Set();

const isBlocked = (url) => [...blocked].some((part) => url.includes(part));

export const network = {
  /**
   * Takes the network away from sockets whose URL contains `part` (all when omitted): open ones
   * drop, as a lost network would, and new ones fail until `up(part)`.
   */
  down(part = "") {
    blocked.add(part);
    for (const s of sockets) if (s.url.includes(part)) s.terminate();
    for (const cb of networkListeners) cb({ isConnected: false, networkType: "none" });
  },
  /** Gives the network back; onNetworkStatusChange tells the SDK. */
  up(part = "") {
    blocked.delete(part);
    for (const cb of networkListeners) cb({ isConnected: true, networkType: "wifi" });
  },
  /** Sockets open now whose URL contains `part`. */
  openSockets(part = "") {
    return [...sockets].filter((s) => s.readyState === WebSocket.OPEN && s.url.includes(part)).length;
  },
};

/** Calls made on live-pusher/live-player contexts, for assertions. */
export const contextCalls = [];

function socketTask(url) {
  const handlers = { open: [], message: [], error: [], close: [] };
  const fire = (kind, arg) => {
    for (const cb of handlers[kind]) cb(arg);
  };
  let ws;
  if (isBlocked(url)) {
    setTimeout(() => {
      fire("error", { errMsg: "connectSocket:fail network is down" });
      fire("close", { code: 1006, reason: "network down" });
    }, 5);
  } else {
    ws = new WebSocket(url);
    sockets.add(ws);
    ws.on("open", () => fire("open"));
    ws.on("message", (data, isBinary) => fire("message", { data: isBinary ? data.buffer : data.toString("utf8") }));
    ws.on("error", (err) => fire("error", { errMsg: `socket error: ${err.message}` }));
    ws.on("close", (code, reason) => {
      sockets.delete(ws);
      fire("close", { code, reason: reason.toString() });
    });
  }
  return {
    send({ data, success, fail }) {
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(data, (err) => (err ? fail && fail({ errMsg: err.message }) : success && success()));
      } else if (fail) {
        fail({ errMsg: "sendSocketMessage:fail socket is not connected" });
      }
    },
    close({ code, reason } = {}) {
      if (ws && ws.readyState <= WebSocket.OPEN) ws.close(code || 1000, reason);
    },
    onOpen: (cb) => handlers.open.push(cb),
    onMessage: (cb) => handlers.message.push(cb),
    onError: (cb) => handlers.error.push(cb),
    onClose: (cb) => handlers.close.push(cb),
  };
}

export const wx = {
  connectSocket: ({ url }) => socketTask(url),
  request({ url, method = "GET", data, header = {}, timeout = 10000, success, fail }) {
    if (isBlocked(url)) {
      setTimeout(() => fail && fail({ errMsg: "request:fail network is down" }), 1);
      return;
    }
    let target = url;
    let body;
    if (method === "GET" && data && typeof data === "object") {
      const q = new URLSearchParams(data).toString();
      target += (url.includes("?") ? "&" : "?") + q;
    } else if (data !== undefined) {
      body = typeof data === "string" ? data : JSON.stringify(data);
    }
    fetch(target, { method, headers: header, body, signal: AbortSignal.timeout(timeout) })
      .then(async (res) => {
        const text = await res.text();
        let parsed = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // wx.request gives the text when it is not JSON.
        }
        success && success({ statusCode: res.status, data: parsed, header: Object.fromEntries(res.headers) });
      })
      .catch((err) => fail && fail({ errMsg: `request:fail ${err.message}` }));
  },
  getSystemInfoSync: () => ({ SDKVersion: "3.3.4", platform: "devtools", system: "Node", version: "8.0.50" }),
  getStorageSync: (key) => (storage.has(key) ? storage.get(key) : ""),
  setStorageSync: (key, value) => storage.set(key, value),
  getNetworkType: ({ success }) => success && success({ networkType: blocked.has("") ? "none" : "wifi" }),
  onNetworkStatusChange: (cb) => networkListeners.add(cb),
  onAppShow: (cb) => appShowListeners.add(cb),
  onAppHide: () => {},
  createLivePusherContext: () => ({
    start: (o) => contextCalls.push(["pusher.start", o]),
    stop: (o) => contextCalls.push(["pusher.stop", o]),
  }),
  createLivePlayerContext: (id) => ({
    play: (o) => contextCalls.push(["player.play", id, o]),
    stop: (o) => contextCalls.push(["player.stop", id, o]),
  }),
};

globalThis.wx = wx;
