// The seeds' video call and audio call, end to end: the example pages' real code (component and
// native variants) on this SDK, against a real `duet serve`, with ffmpeg doing what
// <live-pusher> and <live-player> do with the URLs the pages bind.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { startExampleServer } from "./harness/example-server.mjs";
import { describePages, PageInstance } from "./harness/miniprogram.mjs";
import { waitFor } from "./harness/wait.mjs";

let server;

before(async () => {
  server = await startExampleServer();
});

after(async () => {
  if (server) await server.stop();
});

const streamOf = (page) => page.data.pushStreamID || page.data.publishStreamID;

/** Two users open the same page, each publishes, each plays the other, then one hangs up. */
async function call(pageName, template, { video, tracksUsers, during = async () => {} }) {
  const roomID = `room-${pageName}`;
  const alice = new PageInstance(pageName, template);
  const bob = new PageInstance(pageName, template);
  alice.onLoad({ roomID, userID: `${pageName}-alice` });
  bob.onLoad({ roomID, userID: `${pageName}-bob` });
  const detail = describePages(alice, bob);
  try {
    await alice.openRoom();
    await bob.openRoom();
    assert.equal(alice.data.roomState, "CONNECTED");
    await waitFor(() => alice.data.publishState === "PUBLISHING" && bob.data.publishState === "PUBLISHING", {
      what: "both publishers to be PUBLISHING (the server saw their media)",
      detail,
    });
    const [a, b] = [streamOf(alice), streamOf(bob)];
    const decoding = (page, id) => {
      const p = page.media.players.get(id);
      return p && (video ? p.frames >= 15 : p.audioMicros >= 1000000) && page.data.playStates[id] === "PLAYING";
    };
    await waitFor(() => decoding(alice, b) && decoding(bob, a), { timeout: 30000, what: "each side to decode the other", detail });
    const played = alice.media.players.get(b);
    if (video) assert.ok(played.frames >= 15);
    else assert.equal(played.frames, 0, "an audio call carries no video");
    if (tracksUsers) assert.deepEqual(alice.data.users, [bob.data.userID]);
    await during(alice, bob, detail);

    bob.logout();
    await waitFor(() => !alice.media.players.has(b), { timeout: 10000, what: "alice to stop playing bob's ended stream", detail });
    if (tracksUsers) await waitFor(() => alice.data.users.length === 0, { what: "bob to leave alice's user list", detail });
    assert.equal(alice.data.roomState, "CONNECTED");
    return { alice, bob };
  } finally {
    alice.unload();
    bob.unload();
  }
}

test("a member mixes the call into one stream: both pages play the mix, and it ends when stopped", async () => {
  await call("videocall", "component", {
    video: true,
    tracksUsers: true,
    during: async (alice, bob, detail) => {
      const result = await alice.mixRoom();
      assert.equal(result.errorCode, 0, result.extendedData);
      const mixID = alice.mixID();
      assert.deepEqual(JSON.parse(result.extendedData), { taskID: mixID, outputList: [{ streamID: mixID }] });
      // The room hears of the mix like any stream; the page plays it as it plays the others.
      await waitFor(() => (bob.media.players.get(mixID) || {}).frames >= 15 && bob.data.playStates[mixID] === "PLAYING", {
        timeout: 30000,
        what: "bob's page to decode the mixed stream",
        detail,
      });
      assert.equal((await bob.stopMix()).errorCode, 0, "any member of the app may stop it");
      await waitFor(() => !bob.media.players.has(mixID) && !alice.media.players.has(mixID), {
        timeout: 15000,
        what: "both pages to stop playing the ended mix",
        detail,
      });
      const again = await alice.stopMix();
      assert.equal(again.errorCode, 40403, "mixer_task_not_found");
    },
  });
});

test("video call with the duet-pusher/duet-player components (seed 000)", async () => {
  await call("videocall", "component", {
    video: true,
    tracksUsers: true,
    during: (alice, bob) =>
      waitFor(() => (alice.data.playQuality[streamOf(bob)] || {}).fps > 0, {
        what: "playQualityUpdate with the decoder's frame rate",
        detail: () => JSON.stringify(alice.data.playQuality),
      }),
  });
});

test("video call with native <live-pusher>/<live-player> (seed 001)", async () => {
  await call("videocall-native", "native", {
    video: true,
    tracksUsers: true,
    during: (alice) => {
      assert.match(alice.data.livePlayerList[0].url, /^rtmp:\/\//);
      return waitFor(() => alice.data.publishQuality.fps > 0, {
        what: "publishQualityUpdate with the encoder's frame rate",
        detail: () => JSON.stringify(alice.data.publishQuality),
      });
    },
  });
});

test("audio call with SDK-kept pusher and playerList (seed 003, component version)", async () => {
  await call("audiocall", "bound", { video: false, tracksUsers: false });
});

test("audio call with native components, played over HTTP-FLV (seed 003, native version)", async () => {
  await call("audiocall-native", "nativeAudio", {
    video: false,
    tracksUsers: true,
    during: async (alice) => assert.match(alice.data.livePlayerList[0].url, /^http:\/\/[^/]+\/live\/\d+\/[\w-]+\.flv\?/),
  });
});
