// The example video call page (examples/miniprogram/pages/videocall: the seeds' component
// flow) in WeChat's component test tool, miniprogram-simulate, against a real `duet serve`:
// its WXML renders duet-pusher and duet-player, which render <live-pusher>/<live-player> with
// the signed URLs; ffmpeg does what those elements do with the URLs, and their events
// (bindstatechange, bindnetstatus) are dispatched on the rendered elements, through the
// components, to the SDK and the page.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { examplePage, attributes, simulate } from "./harness/simulate.mjs";
import { startExampleServer } from "./harness/example-server.mjs";
import { LivePlayer, LivePusher, stopAllMedia } from "./harness/media.mjs";
import { waitFor } from "./harness/wait.mjs";

let server;
let duet;

before(async () => {
  server = await startExampleServer();
  duet = server.duet;
});

after(async () => {
  if (server) await server.stop();
});

/** What ffmpeg reports, dispatched on `element` as WeChat's element would fire it. */
const forward = (element) => [
  (code) => element.dispatchEvent("statechange", { detail: { code } }),
  (info) => element.dispatchEvent("netstatus", { detail: { info } }),
];

test("the video call page renders <live-pusher>/<live-player> and their events reach the SDK and the page", async () => {
  const roomID = "sim-call";
  const [alicePage, bobPage] = [examplePage("videocall"), examplePage("videocall")];
  const alice = alicePage.open({ roomID, userID: "sim-alice" });
  const bob = bobPage.open({ roomID, userID: "sim-bob" });
  try {
    // Alice joins and publishes: her duet-pusher renders <live-pusher> with the signed URL.
    await alice.page.openRoom();
    await simulate.sleep(0);
    const lp = alice.root.querySelector("#duetPusher").querySelector("#duet-pusher");
    assert.ok(lp, "<live-pusher> rendered");
    const pushURL = attributes(lp).url;
    assert.ok(pushURL.startsWith(`rtmp://${duet.rtmp}/`) && pushURL.includes("sim-alice-video"), pushURL);
    new LivePusher(pushURL, { video: true }, ...forward(lp));
    await waitFor(() => alice.page.data.publishState === "PUBLISHING", { what: "alice PUBLISHING (the server saw the media)" });

    // Bob joins: the room's ADD makes the page add a duet-player and play it.
    await bob.page.openRoom();
    let player;
    await waitFor(
      async () => {
        await simulate.sleep(0);
        const c = bob.root.querySelector("#duet-sim-alice-video");
        player = c && c.querySelector("#sim-alice-video");
        return !!player && !!attributes(player).src;
      },
      { what: "bob's <live-player> for alice's stream" },
    );
    const src = attributes(player).src;
    assert.ok(src.startsWith(`rtmp://${duet.rtmp}/`) && src.includes("sim-alice-video"), src);
    new LivePlayer(src, ...forward(player));
    // ffmpeg decodes: its netstatus reaches the SDK's playQualityUpdate, which the page shows.
    const shown = () => bob.page.data.playQuality?.["sim-alice-video"] || {};
    // (ffmpeg playing to nowhere measures frames, not a bitrate: fps is the figure to see.)
    await waitFor(() => shown().fps > 0, {
      timeout: 30000,
      what: "bob's page to show the quality of alice's stream",
      detail: () => JSON.stringify(bob.page.data.playQuality),
    });
    // And <live-player>'s statechange: the SDK's player state, which the page shows.
    await waitFor(() => bob.page.data.playStates?.["sim-alice-video"] === "PLAYING", {
      what: "bob's page to show alice's stream PLAYING",
      detail: () => JSON.stringify(bob.page.data.playStates),
    });
  } finally {
    stopAllMedia();
    alicePage.close(alice.root);
    bobPage.close(bob.root);
  }
});
