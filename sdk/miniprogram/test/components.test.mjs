// The duet-pusher and duet-player components in WeChat's component test tool
// (miniprogram-simulate, harness/simulate.mjs), held by a component playing the page's part (the
// `wxContext` of initContext, laid out as the example video call's page), against a scripted
// server: they render <live-pusher>/<live-player> with the URL and attributes the engine gives,
// bind their events, and the events WeChat would fire (bindstatechange, bindnetstatus) reach the
// SDK's own events and the page.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import "./harness/wx.mjs";
import { components, mount, attributes, bindings, simulate } from "./harness/simulate.mjs";
import { DuetEngine, SdkError } from "../dist/index.js";
import { ok, startFakeServer } from "./harness/fake-server.mjs";
import { record, waitFor } from "./harness/wait.mjs";

let server;
let zg;
let page;
let host;
const pageEvents = [];

const PUSH_URL = "rtmp://127.0.0.1:1935/live/alice-video?t=1&sig=abc";
const PLAY_URL = "rtmp://127.0.0.1:1935/live/bob-video?t=1&sig=def";

// The example video call's layout: a duet-pusher for this user's stream and one duet-player per
// stream the room announced, each sending its statechange on to the page.
const hostComponent = simulate.load({
  template: `
    <duet-pusher id="duetPusher" pusher="{{pusher}}" bindstatechange="onPushState" bindnetstatus="onPushNet" />
    <duet-player wx:for="{{duetPlayerList}}" wx:key="componentID" id="{{item.componentID}}"
      playerId="{{item.playerId}}" playerList="{{playerList}}" bindstatechange="onPlayState" />`,
  usingComponents: { "duet-pusher": components.pusher, "duet-player": components.player },
  data: { pusher: {}, playerList: [], duetPlayerList: [] },
  methods: {
    onPushState(e) {
      pageEvents.push(["push", e.detail.code]);
    },
    onPushNet(e) {
      pageEvents.push(["pushNet", e.detail.info.videoBitrate]);
    },
    onPlayState(e) {
      pageEvents.push(["play", e.detail.code]);
    },
  },
  lifetimes: {
    attached() {
      host = this;
    },
  },
});

before(async () => {
  server = await startFakeServer();
  server.answer("publish", (data) => ok({ streamID: data.streamID, url: PUSH_URL }));
  server.answer("play", (data) => ok({ streamID: data.streamID, url: PLAY_URL, live: true }));
  page = mount(hostComponent);
  zg = new DuetEngine(1, server.url);
  zg.setDebugVerbose(false);
  assert.equal(await zg.loginRoom("call", "04token", { userID: "alice" }), true);
  zg.initContext({ wxContext: host, pushAtr: "pusher", playAtr: "playerList" });
});

after(async () => {
  if (zg) zg.destroyEngine();
  if (server) await server.close();
});

/**
 * The page's events whose name starts with `prefix`, each once: simulate dispatches a built-in
 * component's event as composed, so the page sees <live-pusher>'s own event as well as the
 * one the component passes on (in WeChat, only the latter).
 */
const seenByPage = (prefix) => [...new Set(pageEvents.filter((e) => e[0].startsWith(prefix)).map((e) => JSON.stringify(e)))].map((e) => JSON.parse(e));

/** The <live-pusher> the pusher component rendered, or null. */
const livePusher = () => page.querySelector("#duetPusher").querySelector("#duet-pusher");

test("duet-pusher renders <live-pusher> with the publish URL and the engine's attributes, bound to its handlers", async () => {
  assert.equal(livePusher(), undefined, "no <live-pusher> before a URL");
  const pusher = zg.createPusher({ mode: "RTC", enableCamera: true, enableMic: true, minBitrate: 200, maxBitrate: 1000 });
  await pusher.start("alice-video");
  await simulate.sleep(0);
  const lp = livePusher();
  assert.ok(lp, "rendered");
  const a = attributes(lp);
  assert.equal(a.url, PUSH_URL);
  assert.equal(a.mode, "RTC");
  assert.equal(a.enableCamera, true);
  assert.equal(a.enableMic, true);
  assert.equal(a.muted, false);
  assert.equal(a.minBitrate, 200);
  assert.equal(a.maxBitrate, 1000);
  assert.deepEqual(bindings(lp), { statechange: "onStateChange", netstatus: "onNetStatus", audiovolumenotify: "onAudioVolume", error: "onError" });
});

test("<live-pusher> events reach the SDK's publisher events and the page", async () => {
  const events = record(zg, ["publisherStateUpdate", "publishQualityUpdate"]);
  const lp = livePusher();
  lp.dispatchEvent("netstatus", { detail: { info: { videoBitrate: 812, audioBitrate: 48, videoFPS: 15, videoWidth: 640, videoHeight: 360, netSpeed: 860 } } });
  lp.dispatchEvent("statechange", { detail: { code: -1301 } });
  await waitFor(() => events.length >= 2, { what: "two SDK events" });
  const [quality, state] = [events.find((e) => e[0] === "publishQualityUpdate"), events.find((e) => e[0] === "publisherStateUpdate")];
  assert.equal(quality[1], "alice-video");
  assert.deepEqual([quality[2].video.videoBitrate, quality[2].video.videoFPS, quality[2].video.frameWidth, quality[2].audio.audioBitrate], [812, 15, 640, 48]);
  assert.deepEqual([state[1].streamID, state[1].state, state[1].errorCode], ["alice-video", "NO_PUBLISH", SdkError.PUSH_CAMERA_FAILED]);
  assert.equal(events.length, 2, "each reached the SDK once");
  assert.deepEqual(seenByPage("push"), [["pushNet", 812], ["push", -1301]]);
});

test("duet-player renders <live-player> for its stream, and its events reach the SDK's player events and the page", async () => {
  host.setData({ duetPlayerList: [{ componentID: "duet-bob-video", playerId: "bob-video" }] });
  await simulate.sleep(0);
  const component = page.querySelector("#duet-bob-video");
  assert.ok(component, "the page rendered the player component");
  const events = record(zg, ["playerStateUpdate", "playQualityUpdate"]);
  await component.instance.startPlay(zg, "bob-video");
  await simulate.sleep(0);
  // <live-player id> is the stream's player ID the engine chose (the stream ID).
  const player = component.querySelector("#bob-video");
  assert.ok(player, "<live-player> rendered");
  const a = attributes(player);
  assert.equal(a.src, PLAY_URL);
  assert.equal(a.autoplay, true);
  assert.deepEqual(bindings(player), { statechange: "onStateChange", netstatus: "onNetStatus", audiovolumenotify: "onAudioVolume" });

  player.dispatchEvent("statechange", { detail: { code: 2004 } });
  player.dispatchEvent("netstatus", { detail: { info: { videoBitrate: 790, videoFPS: 15, videoCache: 120, audioCache: 80 } } });
  await waitFor(() => events.some((e) => e[0] === "playerStateUpdate" && e[1].state === "PLAYING") && events.some((e) => e[0] === "playQualityUpdate"), {
    what: "PLAYING and quality",
  });
  const quality = events.find((e) => e[0] === "playQualityUpdate");
  assert.deepEqual([quality[1], quality[2].video.videoBitrate, quality[2].video.videoCache], ["bob-video", 790, 120]);
  assert.equal(events.filter((e) => e[0] === "playQualityUpdate").length, 1, "once");
  assert.deepEqual(seenByPage("play"), [["play", 2004]]);

  // Stopping takes the URL away: <live-player> goes.
  zg.getPlayerInstance("bob-video").stop();
  await simulate.sleep(0);
  assert.equal(component.querySelector("#bob-video"), undefined);
});
