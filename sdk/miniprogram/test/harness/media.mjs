// What WeChat's <live-pusher> and <live-player> do with the URL a page binds, played by
// Debian's ffmpeg: push a generated H.264 + AAC test pattern (or AAC only) over RTMP, or pull
// and decode a stream. Each reports the component event codes of COMPAT.md §3 the way the
// WeChat components would, and every process is bounded in time and stopped with its test.
import { spawn } from "node:child_process";

const live = new Set();
const MAX_SECONDS = 120;

/** Kills every media process still running (end of a test). */
export function stopAllMedia() {
  for (const p of live) p.stop();
}

function progressLines(child, onBlock) {
  let buf = "";
  let block = {};
  child.stdout.on("data", (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      const eq = line.indexOf("=");
      if (eq < 0) continue;
      block[line.slice(0, eq)] = line.slice(eq + 1);
      if (line.startsWith("progress=")) {
        onBlock(block);
        block = {};
      }
    }
  });
}

class MediaProcess {
  constructor(args, onState, onNet) {
    this.stopped = false;
    this.stderr = "";
    this.child = spawn("ffmpeg", args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stderr.on("data", (d) => (this.stderr = (this.stderr + d).slice(-4000)));
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
    // A stopped component reports nothing more (its process may still flush output).
    this.onState = (code) => this.stopped || onState(code);
    this.onNet = (info) => this.stopped || onNet(info);
    live.add(this);
    this.exited.then(() => live.delete(this));
  }

  stop() {
    this.stopped = true;
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

/** <live-pusher url> with autopush: publishes until stopped. */
export class LivePusher extends MediaProcess {
  constructor(url, { video = true }, onState, onNet) {
    const args = ["-hide_banner", "-loglevel", "error", "-nostdin", "-nostats", "-progress", "pipe:1", "-re"];
    if (video) args.push("-f", "lavfi", "-i", "testsrc=size=320x240:rate=15");
    args.push("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", String(MAX_SECONDS));
    if (video) args.push("-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-threads", "1");
    args.push("-c:a", "aac", "-f", "flv", url);
    super(args, onState, onNet);
    this.video = video;
    this.pushing = false;
    progressLines(this.child, (p) => {
      if (!this.pushing && p.progress === "continue") {
        this.pushing = true;
        this.onState(1001);
        if (video) this.onState(1003);
        this.onState(1002);
      }
      this.onNet({
        videoBitrate: video ? parseFloat(p.bitrate) || 0 : 0,
        audioBitrate: 128,
        videoFPS: video ? parseFloat(p.fps) || 0 : 0,
        videoWidth: video ? 320 : 0,
        videoHeight: video ? 240 : 0,
        videoGOP: video ? 1 : 0,
        netSpeed: parseFloat(p.bitrate) || 0,
        netJitter: 0,
      });
    });
    this.exited.then((code) => {
      if (this.stopped) return;
      // The server refused or dropped the push: what the component reports before giving up.
      this.onState(code === 0 ? 3004 : this.pushing ? 3005 : 3002);
      this.onState(-1307);
    });
  }
}

/** <live-player src> with autoplay: pulls and decodes until the stream ends or it is stopped. */
export class LivePlayer extends MediaProcess {
  constructor(url, onState, onNet) {
    const args = ["-hide_banner", "-loglevel", "error", "-nostdin", "-nostats", "-progress", "pipe:1", "-rw_timeout", "15000000"];
    args.push("-i", url, "-t", String(MAX_SECONDS), "-f", "null", "-");
    super(args, onState, onNet);
    this.frames = 0;
    this.audioMicros = 0;
    this.playing = false;
    progressLines(this.child, (p) => {
      this.frames = Number(p.frame) || 0;
      this.audioMicros = Number(p.out_time_us) || 0;
      if (!this.playing && (this.frames > 0 || this.audioMicros > 0)) {
        this.playing = true;
        for (const code of [2001, 2002, 2008]) this.onState(code);
        if (this.frames > 0) this.onState(2003);
        this.onState(2004);
      }
      this.onNet({
        videoBitrate: parseFloat(p.bitrate) || 0,
        audioBitrate: 128,
        videoFPS: parseFloat(p.fps) || 0,
        videoWidth: this.frames > 0 ? 320 : 0,
        videoHeight: this.frames > 0 ? 240 : 0,
        videoCache: 0,
        audioCache: 0,
      });
    });
    this.exited.then((code) => {
      if (this.stopped) return;
      if (code === 0 && this.playing) this.onState(2006);
      else this.onState(-2301);
    });
  }
}
