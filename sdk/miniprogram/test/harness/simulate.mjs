// WeChat's own component test tool, miniprogram-simulate (j-component on exparser, the
// framework under WeChat's custom components), in a jsdom document: it renders a component's
// WXML, including <live-pusher>/<live-player>, with their attributes and event bindings, and
// dispatches their events as WeChat would. Importing this sets up the document it needs.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

import { JSDOM } from "jsdom";

import { EXAMPLES_DIR, SDK_DIR, loadDefinition } from "./miniprogram.mjs";

const dom = new JSDOM("<!doctype html><html><body></body></html>", { pretendToBeVisual: true });
// The document's own classes (Node's global Event is not the DOM's: jsdom refuses it).
for (const name of ["window", "document", "navigator", "Node", "Element", "HTMLElement", "Event", "CustomEvent", "MutationObserver", "getComputedStyle"]) {
  Object.defineProperty(globalThis, name, { value: name === "window" ? dom.window : dom.window[name], configurable: true, writable: true });
}

const require = createRequire(import.meta.url);
export const simulate = require("miniprogram-simulate");

/**
 * The SDK's built components (dist/components), loaded into simulate once. Both are `index`
 * files: compiled from one root (the SDK's dist/, as WeChat's "build npm" ships it) their
 * templates keep apart; each from its own folder, WeChat's compiler names both `./index.wxml`.
 */
const rootPath = join(SDK_DIR, "dist");
export const components = {
  pusher: simulate.load(join(rootPath, "components", "duet-pusher", "index"), { rootPath }),
  player: simulate.load(join(rootPath, "components", "duet-player", "index"), { rootPath }),
};

/** Renders component `id` attached to a document, as a page would hold it. */
export function mount(id, props) {
  const root = simulate.render(id, props);
  root.attach(document.createElement("parent-wrapper"));
  return root;
}

/** The attributes a rendered built-in element (<live-pusher>) was given, by name. */
export function attributes(node) {
  return Object.fromEntries(node.toJSON().attrs.map((a) => [a.name, a.value]));
}

/** Its event bindings: event name -> the component method it calls. */
export function bindings(node) {
  return Object.fromEntries(Object.entries(node.toJSON().event).map(([name, e]) => [name, e.handler]));
}

const PAGE_LIFECYCLE = ["onLoad", "onShow", "onReady", "onHide", "onUnload"];

/**
 * An example page (examples/miniprogram/pages/<name>) in simulate: its own WXML (with its
 * `<include>`s) and `usingComponents` (the SDK's components), its Page() definition's data and
 * functions as a component's (simulate has no Page; the framework under both is exparser).
 * `open(query)` renders it and runs its onLoad; `close()` runs onUnload and detaches it.
 */
export function examplePage(name) {
  const dir = join(EXAMPLES_DIR, "pages", name);
  const def = loadDefinition(join(dir, "index.js"), "Page");
  const template = readFileSync(join(dir, "index.wxml"), "utf8").replace(/<include src="([^"]+)"\s*\/>/g, (_, src) => readFileSync(join(dir, src), "utf8"));
  const usingComponents = {};
  for (const [tag, path] of Object.entries(JSON.parse(readFileSync(join(dir, "index.json"), "utf8")).usingComponents || {})) {
    usingComponents[tag] = path.endsWith("/duet-pusher/index") ? components.pusher : components.player;
  }
  const methods = Object.fromEntries(Object.entries(def).filter(([k, v]) => typeof v === "function" && !PAGE_LIFECYCLE.includes(k)));
  let page;
  const id = simulate.load({ template, usingComponents, data: def.data || {}, methods, lifetimes: { attached() { page = this; } } });
  return {
    open(query) {
      const root = mount(id);
      def.onLoad.call(page, query);
      return { root, page };
    },
    close(root) {
      if (def.onUnload) def.onUnload.call(page);
      root.detach();
    },
  };
}
