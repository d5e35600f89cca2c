// Every WeChat component code of COMPAT.md §3 and what the SDK makes of it.
import assert from "node:assert/strict";
import { test } from "node:test";

import "./harness/wx.mjs";
import { isPushFailure, playerTransition, pusherTransition, qualityStats, SdkError } from "../dist/index.js";

test("<live-pusher> codes", () => {
  const expected = {
    1001: null, // connected: PUBLISHING comes from the server, not from the pusher
    1002: null,
    1003: null,
    1007: null,
    1008: null,
    1101: null, // weak network: quality, not state
    1102: { state: "PUBLISH_REQUESTING", errorCode: 0 },
    [-1301]: { state: "NO_PUBLISH", errorCode: SdkError.PUSH_CAMERA_FAILED },
    [-1302]: { state: "NO_PUBLISH", errorCode: SdkError.PUSH_MIC_FAILED },
    [-1303]: { state: "NO_PUBLISH", errorCode: SdkError.PUSH_ENCODE_FAILED },
    [-1304]: { state: "NO_PUBLISH", errorCode: SdkError.PUSH_ENCODE_FAILED },
    [-1307]: { state: "NO_PUBLISH", errorCode: SdkError.PUSH_FAILED },
    3001: { state: "PUBLISH_REQUESTING", errorCode: SdkError.MEDIA_DNS_FAILED },
    3002: { state: "PUBLISH_REQUESTING", errorCode: SdkError.MEDIA_CONNECT_FAILED },
    3003: { state: "PUBLISH_REQUESTING", errorCode: SdkError.MEDIA_HANDSHAKE_FAILED },
    3004: { state: "PUBLISH_REQUESTING", errorCode: SdkError.MEDIA_SERVER_CLOSED },
    3005: { state: "PUBLISH_REQUESTING", errorCode: SdkError.MEDIA_IO_FAILED },
    5001: { state: "PUBLISH_REQUESTING", errorCode: SdkError.INTERRUPTED_BY_CALL },
    0: null,
    9999: null,
  };
  for (const [code, want] of Object.entries(expected)) {
    assert.deepEqual(pusherTransition(Number(code)), want, `pusher code ${code}`);
  }
  for (const code of [-1307, 3001, 3002, 3003, 3004, 3005]) assert.ok(isPushFailure(code), `${code} is a push failure`);
  for (const code of [1001, 1002, 1101, 1102, -1301, 5001]) assert.ok(!isPushFailure(code), `${code} is not a URL failure`);
});

test("<live-player> codes", () => {
  const expected = {
    2001: { state: "PLAY_REQUESTING", errorCode: 0 },
    2002: { state: "PLAY_REQUESTING", errorCode: 0 },
    2003: { state: "PLAYING", errorCode: 0 },
    2004: { state: "PLAYING", errorCode: 0 },
    2005: null, // progress
    2006: { state: "NO_PLAY", errorCode: 0 },
    2007: null, // loading
    2008: null, // decoder started
    2009: null, // resolution changed
    2101: null, // one frame failed to decode: quality, not state
    2102: null,
    2103: { state: "PLAY_REQUESTING", errorCode: 0 },
    2104: null,
    2105: null,
    [-2301]: { state: "NO_PLAY", errorCode: SdkError.PLAY_FAILED },
    [-2302]: { state: "NO_PLAY", errorCode: SdkError.PLAY_URL_FAILED },
    3001: { state: "PLAY_REQUESTING", errorCode: SdkError.MEDIA_DNS_FAILED },
    3002: { state: "PLAY_REQUESTING", errorCode: SdkError.MEDIA_CONNECT_FAILED },
    3003: { state: "PLAY_REQUESTING", errorCode: SdkError.MEDIA_HANDSHAKE_FAILED },
    3004: { state: "PLAY_REQUESTING", errorCode: SdkError.MEDIA_SERVER_CLOSED },
    3005: { state: "PLAY_REQUESTING", errorCode: SdkError.MEDIA_IO_FAILED },
    5001: { state: "PLAY_REQUESTING", errorCode: SdkError.INTERRUPTED_BY_CALL },
    1002: null,
  };
  for (const [code, want] of Object.entries(expected)) {
    assert.deepEqual(playerTransition(Number(code)), want, `player code ${code}`);
  }
});

test("bindnetstatus info becomes quality stats", () => {
  const info = {
    videoBitrate: 812,
    audioBitrate: 64,
    videoFPS: 15,
    videoGOP: 2,
    netSpeed: 900,
    netJitter: 3,
    videoWidth: 640,
    videoHeight: 480,
    videoCache: 120,
    audioCache: 80,
    avPlayInterval: 12,
    avRecvInterval: 9,
  };
  assert.deepEqual(qualityStats(info, 42), {
    video: { videoBitrate: 812, videoFPS: 15, frameWidth: 640, frameHeight: 480, videoGOP: 2, videoCache: 120 },
    audio: { audioBitrate: 64, audioCache: 80, soundLevel: 42 },
    netSpeed: 900,
    netJitter: 3,
    avPlayInterval: 12,
    avRecvInterval: 9,
  });
  // Missing or junk fields are zero, never NaN.
  assert.deepEqual(qualityStats({ videoFPS: "25", videoBitrate: "x" }), {
    video: { videoBitrate: 0, videoFPS: 25, frameWidth: 0, frameHeight: 0, videoGOP: 0 },
    audio: { audioBitrate: 0 },
    netSpeed: 0,
    netJitter: 0,
  });
});
