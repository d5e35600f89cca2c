// A small mini-program runtime for Node: loads a page's real .js (its `Page({...})` call) and
// the SDK's real components (`Component({...})`), gives them `data`/`setData`/
// `selectComponent`/`selectOwnerComponent`/`triggerEvent`, and renders what the page's WXML
// binds: each page kind below mirrors its index.wxml. Rendering a <live-pusher> or
// <live-player> with a URL starts the ffmpeg peer of ./media.mjs and feeds its events to the
// handlers the WXML names, as WeChat would.
import Module, { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { LivePlayer, LivePusher } from "./media.mjs";
import "./wx.mjs";

const here = dirname(fileURLToPath(import.meta.url));
export const SDK_DIR = join(here, "..", "..");
export const EXAMPLES_DIR = join(SDK_DIR, "..", "..", "examples", "miniprogram");
const require = createRequire(import.meta.url);

// `require("duet-miniprogram")` in a page is what WeChat's "build npm" resolves to the package.
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === "duet-miniprogram") return join(SDK_DIR, "dist", "index.js");
  if (request.startsWith("duet-miniprogram/")) return join(SDK_DIR, "dist", request.slice("duet-miniprogram/".length));
  return resolve.call(this, request, ...rest);
};

function clone(v) {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

/** `setData` path keys: "a", "a.b", "list[2].url". */
function setPath(obj, path, value) {
  const parts = path.replace(/\[(\d+)\]/g, ".$1").split(".");
  let at = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    if (at[parts[i]] === undefined || at[parts[i]] === null) at[parts[i]] = /^\d+$/.test(parts[i + 1]) ? [] : {};
    at = at[parts[i]];
  }
  at[parts[parts.length - 1]] = clone(value);
}

export function loadDefinition(path, kind) {
  let captured;
  const previous = globalThis[kind];
  globalThis[kind] = (def) => (captured = def);
  try {
    // A fresh page gets fresh modules (pages keep `zg` at module level), except config.js,
    // which the test fills in.
    for (const key of Object.keys(require.cache)) {
      if (key.startsWith(EXAMPLES_DIR) && !key.endsWith("config.js")) delete require.cache[key];
    }
    delete require.cache[require.resolve(path)];
    require(path);
  } finally {
    globalThis[kind] = previous;
  }
  if (!captured) throw new Error(`${path} did not call ${kind}()`);
  return captured;
}

class ComponentInstance {
  constructor(def, owner, props) {
    this.def = def;
    this.owner = owner;
    this.events = [];
    this.data = { ...clone(def.data || {}) };
    for (const [k, p] of Object.entries(def.properties || {})) this.data[k] = clone(p.value);
    Object.assign(this.data, clone(props));
    for (const [name, fn] of Object.entries(def.methods || {})) this[name] = fn.bind(this);
  }
  setData(patch, cb) {
    for (const [k, v] of Object.entries(patch)) setPath(this.data, k, v);
    if (cb) setTimeout(cb, 0);
  }
  setProps(props) {
    Object.assign(this.data, clone(props));
  }
  selectOwnerComponent() {
    return this.owner;
  }
  triggerEvent(name, detail) {
    this.events.push([name, detail]);
  }
}

/** How each example page's WXML binds pushers and players (mirrors pages/<kind>/index.wxml). */
const TEMPLATES = {
  // <duet-pusher pusher="{{pusher}}"> and <duet-player wx:for="{{duetPlayerList}}" ...>
  component: { pusherComponent: "pusher", playerComponents: { list: "duetPlayerList", playerList: "playerList" } },
  // <live-pusher url="{{livePusherUrl}}" bindstatechange="onPushStateChange" ...> and
  // <live-player wx:for="{{livePlayerList}}" id="{{item.streamID}}" src="{{item.url}}" ...>
  native: {
    pusher: { url: (d) => d.livePusherUrl, video: () => true, state: "onPushStateChange", net: "onPushNetStateChange" },
    players: { list: (d) => d.livePlayerList || [], id: (i) => i.streamID, url: (i) => i.url },
  },
  // <live-pusher url="{{livePusherUrl}}" enable-camera="{{false}}" ...>: the native audio call.
  nativeAudio: {
    pusher: { url: (d) => d.livePusherUrl, video: () => false, state: "onPushStateChange", net: "onPushNetStateChange" },
    players: { list: (d) => d.livePlayerList || [], id: (i) => i.streamID, url: (i) => i.url },
  },
  // <live-pusher wx:if="{{pusher.url}}" url="{{pusher.url}}" enable-camera="{{pusher.enableCamera}}" ...>
  // and <live-player wx:for="{{playerList}}" id="{{item.id}}" src="{{item.url}}" ...>: SDK-kept data.
  bound: {
    pusher: { url: (d) => d.pusher && d.pusher.url, video: (d) => d.pusher.enableCamera !== false, state: "onPushStateChange", net: "onPushNetStateChange" },
    players: { list: (d) => d.playerList || [], id: (i) => i.id, url: (i) => i.url },
  },
};

/** What a test shows when a wait on pages fails: each page's states, media and error. */
export function describePages(...pages) {
  return () =>
    JSON.stringify(
      pages.map((p) => ({
        user: p.data.userID,
        room: p.data.roomState,
        publish: p.data.publishState,
        plays: p.data.playStates,
        error: p.data.error,
        pusher: p.media.pusher && { url: p.media.pusher.url, err: p.media.pusher.stderr },
        players: [...p.media.players].map(([id, m]) => ({ id, url: m.url, frames: m.frames, audioMicros: m.audioMicros, err: m.stderr })),
      })),
    );
}

export class PageInstance {
  /** Loads examples/miniprogram/pages/<name>/index.js as a fresh page of the given template. */
  constructor(name, template) {
    const def = loadDefinition(join(EXAMPLES_DIR, "pages", name, "index.js"), "Page");
    this.template = TEMPLATES[template];
    this.data = clone(def.data || {});
    this.components = new Map();
    this.media = { pusher: undefined, players: new Map() };
    for (const [k, v] of Object.entries(def)) {
      if (k !== "data") this[k] = typeof v === "function" ? v.bind(this) : clone(v);
    }
  }

  setData(patch, cb) {
    // A page that was unloaded renders nothing more (WeChat drops its setData).
    if (this.unloaded) return;
    for (const [k, v] of Object.entries(patch)) setPath(this.data, k, v);
    this.render();
    if (cb) setTimeout(cb, 0);
  }

  selectComponent(selector) {
    return this.components.get(selector.replace(/^#/, "")) || null;
  }

  render() {
    const t = this.template;
    if (t.pusherComponent) return this.renderComponents();
    const d = this.data;
    this.renderPusher(t.pusher.url(d), () => t.pusher.video(d), (code) => this[t.pusher.state]({ detail: { code } }), (info) => this[t.pusher.net]({ detail: { info } }));
    const wanted = new Map(t.players.list(d).filter((i) => t.players.url(i)).map((i) => [t.players.id(i), t.players.url(i)]));
    this.renderPlayers(wanted, (id, code) => this.onPlayStateChange({ currentTarget: { id }, detail: { code } }), (id, info) => this.onPlayNetStateChange({ currentTarget: { id }, detail: { info } }));
  }

  /** duet-pusher and duet-player components, each rendering its own live-pusher/live-player. */
  renderComponents() {
    const t = this.template;
    const d = this.data;
    let pusher = this.components.get("duetPusher");
    if (!pusher) {
      pusher = new ComponentInstance(loadDefinition(join(SDK_DIR, "dist", "components", "duet-pusher", "index.js"), "Component"), this, {});
      this.components.set("duetPusher", pusher);
    }
    pusher.setProps({ pusher: d[t.pusherComponent] || {} });
    const p = pusher.data.pusher;
    this.renderPusher(p.url, () => p.enableCamera !== false, (code) => pusher.onStateChange({ detail: { code } }), (info) => pusher.onNetStatus({ detail: { info } }));

    const items = d[t.playerComponents.list] || [];
    const ids = new Set(items.map((i) => i.componentID));
    for (const id of [...this.components.keys()]) if (id !== "duetPusher" && !ids.has(id)) this.components.delete(id);
    const wanted = new Map();
    const byStream = new Map();
    for (const item of items) {
      let c = this.components.get(item.componentID);
      if (!c) {
        c = new ComponentInstance(loadDefinition(join(SDK_DIR, "dist", "components", "duet-player", "index.js"), "Component"), this, {});
        this.components.set(item.componentID, c);
      }
      c.setProps({ playerId: item.playerId, playerList: d[t.playerComponents.playerList] || [] });
      const mine = c.data.playerList.find((x) => x.streamID === c.data.playerId && x.url);
      if (mine) {
        wanted.set(mine.id, mine.url);
        byStream.set(mine.id, c);
      }
    }
    this.renderPlayers(wanted, (id, code) => byStream.get(id) && byStream.get(id).onStateChange({ detail: { code } }), (id, info) => byStream.get(id) && byStream.get(id).onNetStatus({ detail: { info } }));
  }

  renderPusher(url, video, onState, onNet) {
    const m = this.media;
    if (m.pusher && m.pusher.url !== url) {
      m.pusher.stop();
      m.pusher = undefined;
    }
    if (url && !m.pusher) {
      m.pusher = new LivePusher(url, { video: video() }, onState, onNet);
      m.pusher.url = url;
    }
  }

  renderPlayers(wanted, onState, onNet) {
    const m = this.media;
    for (const [id, p] of [...m.players]) {
      if (wanted.get(id) !== p.url) {
        p.stop();
        m.players.delete(id);
      }
    }
    for (const [id, url] of wanted) {
      if (m.players.has(id)) continue;
      const p = new LivePlayer(url, (code) => onState(id, code), (info) => onNet(id, info));
      p.url = url;
      m.players.set(id, p);
    }
  }

  /** Ends everything the page started, as leaving it would. */
  unload() {
    if (typeof this.onUnload === "function") this.onUnload();
    this.unloaded = true;
    if (this.media.pusher) this.media.pusher.stop();
    for (const p of this.media.players.values()) p.stop();
  }
}
