// What the WebRTC browser tests share: publishing the fake camera over WHIP and playing over
// WHEP from a page, as a Web page would with RTCPeerConnection, and ffmpeg as an RTMP source.
import { spawn } from "node:child_process";

/** Publishes the fake camera (and microphone, with `audio`; or a sine `tone: {hz, gain}` made
 * with Web Audio) from `page` to `whip`; resolves when the peer connection is up. The page
 * keeps it as `window.duetPc`. */
export async function publishFrom(page, whip, { audio = false, tone = null, prepared = false } = {}) {
  return page.evaluate(
    async ({ whip, audio, tone, prepared }) => {
      // `prepared`: a stream the page made itself (`window.duetSource`), not the camera.
      const stream = prepared
        ? window.duetSource
        : await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio });
      if (tone) {
        const ctx = new AudioContext({ sampleRate: 48000 });
        await ctx.resume();
        const osc = new OscillatorNode(ctx, { frequency: tone.hz });
        const gain = new GainNode(ctx, { gain: tone.gain });
        const out = ctx.createMediaStreamDestination();
        osc.connect(gain).connect(out);
        osc.start();
        stream.addTrack(out.stream.getAudioTracks()[0]);
        window.duetTone = ctx;
      }
      const pc = new RTCPeerConnection();
      const transceiver = pc.addTransceiver(stream.getVideoTracks()[0], { direction: "sendonly" });
      for (const track of stream.getAudioTracks()) pc.addTransceiver(track, { direction: "sendonly" });
      const codecs = RTCRtpSender.getCapabilities("video").codecs;
      const h264 = codecs.filter((c) => c.mimeType === "video/H264" && /packetization-mode=1/.test(c.sdpFmtpLine || ""));
      if (!h264.length) return { error: `no H.264 encoder: ${codecs.map((c) => c.mimeType).join(",")}` };
      transceiver.setCodecPreferences(h264);
      await pc.setLocalDescription(await pc.createOffer());
      const res = await fetch(whip, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp });
      const answer = await res.text();
      if (res.status !== 201) return { error: `WHIP answered ${res.status}: ${answer}` };
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
      const deadline = Date.now() + 15000;
      while (pc.connectionState !== "connected" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      window.duetPc = pc;
      return { state: pc.connectionState, location: res.headers.get("Location") };
    },
    { whip, audio, tone, prepared },
  );
}

/** Plays `whep` in `page` (video and audio, receive only); resolves when the peer connection
 * is up, with how long the first decoded frame took after that. The page keeps the peer
 * connection as `window.duetPlayer`. `udp: false` drops Duet's UDP candidate from the answer,
 * as a network that lets no UDP through would leave the browser only TCP. */
export async function playFrom(page, whep, { udp = true } = {}) {
  return page.evaluate(async ({ whep, udp }) => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    // As a page shows a stream: the browser renders (and counts) audio only when it plays.
    const element = document.createElement("video");
    element.autoplay = true;
    element.srcObject = new MediaStream();
    document.body.appendChild(element);
    pc.ontrack = (e) => {
      element.srcObject.addTrack(e.track);
      element.play().catch(() => {});
    };
    await pc.setLocalDescription(await pc.createOffer());
    const res = await fetch(whep, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp });
    const answer = await res.text();
    if (res.status !== 201) return { error: `WHEP answered ${res.status}: ${answer}`, status: res.status };
    const sdp = udp ? answer : answer.split("\r\n").filter((l) => !/^a=candidate:.* udp /i.test(l)).join("\r\n");
    await pc.setRemoteDescription({ type: "answer", sdp });
    let deadline = Date.now() + 15000;
    while (pc.connectionState !== "connected" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const connected = performance.now();
    window.duetPlayer = pc;
    let firstFrameMs = null;
    deadline = Date.now() + 10000;
    while (firstFrameMs === null && Date.now() < deadline) {
      const report = await pc.getStats();
      const video = [...report.values()].find((r) => r.type === "inbound-rtp" && r.kind === "video");
      if (video && video.framesDecoded > 0) firstFrameMs = performance.now() - connected;
      else await new Promise((r) => setTimeout(r, 10));
    }
    return { state: pc.connectionState, location: res.headers.get("Location"), firstFrameMs };
  }, { whep, udp });
}

/** What the page's WHEP player received so far (getStats). */
export async function playerStats(page) {
  return page.evaluate(async () => {
    const report = await window.duetPlayer.getStats();
    const inbound = (kind) => [...report.values()].find((r) => r.type === "inbound-rtp" && r.kind === kind) || {};
    const video = inbound("video");
    const audio = inbound("audio");
    const codec = video.codecId && report.get(video.codecId);
    return {
      frames: video.framesDecoded || 0,
      keyframes: video.keyFramesDecoded || 0,
      plis: video.pliCount || 0,
      codec: codec && codec.mimeType,
      width: video.frameWidth,
      samples: audio.totalSamplesReceived || 0,
      audioEnergy: audio.totalAudioEnergy || 0,
      jitterBufferMs: video.jitterBufferEmittedCount ? (1000 * video.jitterBufferDelay) / video.jitterBufferEmittedCount : null,
    };
  });
}

/** ffmpeg publishing an H.264 (baseline, no B-frames) + AAC test pattern over RTMP for at
 * most `seconds`; `extra` replaces the video encoder settings. */
export function ffmpegPublish(url, seconds, { video = ["-profile:v", "baseline", "-bf", "0"] } = {}) {
  const args = ["-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"];
  args.push("-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000", "-t", String(seconds));
  args.push("-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "50", "-threads", "1");
  args.push(...video, "-c:a", "aac", "-f", "flv", url);
  return spawn("ffmpeg", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** The tone in a buffer of samples (floats in [-1, 1]): its frequency from the median period
 * between rising zero crossings (robust to a glitch: a browser's jitter buffer may stretch or
 * drop a few milliseconds), and its RMS level in dBFS. */
export function toneOf(samples, rate) {
  const crossings = [];
  let sum = 0;
  for (let i = 0; i < samples.length; i++) {
    sum += samples[i] * samples[i];
    if (i > 0 && samples[i - 1] < 0 && samples[i] >= 0) {
      // Where between the two samples the wave crosses zero.
      crossings.push(i - 1 + samples[i - 1] / (samples[i - 1] - samples[i]));
    }
  }
  const periods = crossings.slice(1).map((c, i) => c - crossings[i]).sort((a, b) => a - b);
  const hz = periods.length ? rate / periods[Math.floor(periods.length / 2)] : 0;
  return { hz, rmsDb: 20 * Math.log10(Math.sqrt(sum / samples.length) + 1e-12) };
}

/** The tone the page's WHEP player hears now: `seconds` of its audio track through Web Audio. */
export async function heardTone(page, seconds) {
  const { samples, rate } = await page.evaluate(async (seconds) => {
    const receiver = window.duetPlayer.getReceivers().find((r) => r.track.kind === "audio");
    const ctx = new AudioContext();
    await ctx.resume();
    const source = ctx.createMediaStreamSource(new MediaStream([receiver.track]));
    const recorder = ctx.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    recorder.onaudioprocess = (e) => chunks.push(Array.from(e.inputBuffer.getChannelData(0)));
    source.connect(recorder);
    recorder.connect(ctx.destination);
    await new Promise((r) => setTimeout(r, 300 + seconds * 1000));
    recorder.disconnect();
    // Skip the first 300 ms (the graph starting).
    const all = chunks.flat();
    return { samples: all.slice(Math.floor(0.3 * ctx.sampleRate)), rate: ctx.sampleRate };
  }, seconds);
  return toneOf(samples, rate);
}

/** The tone in `seconds` of the audio ffmpeg decodes from `url` (mono float, 48 kHz). */
export async function decodedTone(url, seconds) {
  // The first channel as it is (a downmix would add the channels: +3 dB for a mono source in stereo).
  const args = ["-hide_banner", "-loglevel", "error", "-nostdin", "-i", url, "-vn", "-af", "pan=mono|c0=c0", "-ar", "48000"];
  args.push("-t", String(seconds + 1), "-f", "f32le", "-");
  const pcm = await new Promise((resolve, reject) => {
    const child = spawn("ffmpeg", args, { stdio: ["ignore", "pipe", "pipe"] });
    const chunks = [];
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), (seconds + 20) * 1000);
    child.stdout.on("data", (d) => chunks.push(d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`ffmpeg ${code}: ${stderr}`));
      else resolve(Buffer.concat(chunks));
    });
  });
  const all = new Float32Array(pcm.buffer, pcm.byteOffset, Math.floor(pcm.length / 4));
  return toneOf(all.subarray(48000), 48000); // the first second out: the decoder settling
}

/** Publishes from `page` to `whip` a picture that flashes white and a 1 kHz beep, together,
 * for 100 ms at the start of every second (a canvas and a Web Audio script node switched by
 * the same timer), for checking audio/video sync downstream. */
export async function publishFlashes(page, whip) {
  await page.evaluate(async () => {
    const canvas = document.createElement("canvas");
    canvas.width = 320;
    canvas.height = 240;
    const g = canvas.getContext("2d");
    const video = canvas.captureStream(0).getVideoTracks()[0];
    const ctx = new AudioContext({ sampleRate: 48000 });
    await ctx.resume();
    const node = ctx.createScriptProcessor(256, 0, 1);
    const out = ctx.createMediaStreamDestination();
    let on = false;
    let phase = 0;
    node.onaudioprocess = (e) => {
      const data = e.outputBuffer.getChannelData(0);
      for (let i = 0; i < data.length; i++) {
        data[i] = on ? 0.25 * Math.sin(phase) : 0;
        phase += (2 * Math.PI * 1000) / 48000;
      }
    };
    node.connect(out);
    const draw = (white) => {
      g.fillStyle = white ? "#fff" : "#000";
      g.fillRect(0, 0, 320, 240);
      video.requestFrame();
    };
    draw(false);
    const started = performance.now();
    window.duetFlashes = setInterval(() => {
      const t = (performance.now() - started) % 1000;
      const white = t < 100;
      if (white !== on) {
        on = white;
        draw(white);
      } else if (Math.floor(performance.now() / 33) % 2 === 0) {
        draw(white); // keep frames coming between flips
      }
    }, 2);
    window.duetSource = new MediaStream([video, out.stream.getAudioTracks()[0]]);
  });
  return publishFrom(page, whip, { prepared: true });
}

/** Flash and beep onsets (seconds, on the stream's timeline) in `seconds` of `url`, as ffmpeg
 * decodes it: where the picture stops being black (blackdetect) and the sound stops being
 * silent (silencedetect). */
export async function onsets(url, seconds) {
  const args = ["-hide_banner", "-nostdin", "-copyts", "-i", url, "-t", String(seconds)];
  args.push("-vf", "blackdetect=d=0.02:pic_th=0.9", "-af", "silencedetect=n=-40dB:d=0.05", "-f", "null", "-");
  const stderr = await new Promise((resolve) => {
    const child = spawn("ffmpeg", args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), (seconds + 30) * 1000);
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", () => {
      clearTimeout(timer);
      resolve(err);
    });
  });
  const flashes = [...stderr.matchAll(/black_end:\s*([\d.]+)/g)].map((m) => Number(m[1]));
  const beeps = [...stderr.matchAll(/silence_end:\s*([\d.]+)/g)].map((m) => Number(m[1]));
  return { flashes, beeps, stderr };
}

/** ffmpeg publishing over RTMP for `seconds` a picture that flashes white and a 1 kHz beep,
 * together, for 100 ms at the start of every second (H.264 baseline, AAC). */
export function ffmpegFlashes(url, seconds) {
  const args = ["-hide_banner", "-loglevel", "error", "-nostdin", "-re"];
  args.push("-f", "lavfi", "-i", "color=c=black:s=320x240:r=25,drawbox=c=white:t=fill:enable='lt(mod(t,1),0.1)'");
  args.push("-f", "lavfi", "-i", "aevalsrc='if(lt(mod(t,1),0.1),0.25*sin(2*PI*1000*t),0)':s=48000");
  args.push("-t", String(seconds), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency");
  args.push("-profile:v", "baseline", "-g", "50", "-threads", "1", "-c:a", "aac", "-f", "flv", url);
  return spawn("ffmpeg", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Plays `whep` in `page` for `seconds` and returns the flash onsets of its video (from each
 * shown frame's RTP time) and the beep onsets of its audio (each Opus frame decoded with
 * WebCodecs at its RTP time), both in milliseconds on the player's RTP clocks (video ÷ 90,
 * audio ÷ 48: Duet makes both from one millisecond clock). */
export async function playedOnsets(page, whep, seconds) {
  return page.evaluate(
    async ({ whep, seconds }) => {
      const flashes = [];
      const beeps = [];
      const pc = new RTCPeerConnection({ encodedInsertableStreams: true });
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
      const element = document.createElement("video");
      element.muted = true;
      element.srcObject = new MediaStream();
      document.body.appendChild(element);
      const canvas = document.createElement("canvas");
      canvas.width = 8;
      canvas.height = 8;
      const g = canvas.getContext("2d", { willReadFrequently: true });
      let white = false;
      let firstFrame = null;
      const onFrame = (_now, meta) => {
        g.drawImage(element, 0, 0, 8, 8);
        const px = g.getImageData(0, 0, 8, 8).data;
        let sum = 0;
        for (let i = 0; i < px.length; i += 4) sum += px[i];
        const bright = sum / (px.length / 4) > 128;
        if (firstFrame === null && meta.rtpTimestamp !== undefined) firstFrame = meta.rtpTimestamp / 90;
        if (bright && !white && meta.rtpTimestamp !== undefined) flashes.push(meta.rtpTimestamp / 90);
        white = bright;
        element.requestVideoFrameCallback(onFrame);
      };
      let quietSince = -Infinity;
      let loud = false;
      const decoder = new AudioDecoder({
        output: (data) => {
          const samples = new Float32Array(data.numberOfFrames);
          data.copyTo(samples, { planeIndex: 0, format: "f32-planar" });
          const start = data.timestamp / 1000; // µs → ms
          for (let i = 0; i < samples.length; i++) {
            const t = start + i / 48;
            if (Math.abs(samples[i]) > 0.05) {
              if (!loud && t - quietSince > 50) beeps.push(t);
              loud = true;
            } else if (loud) {
              loud = false;
              quietSince = t;
            }
          }
          data.close();
        },
        error: () => {},
      });
      decoder.configure({ codec: "opus", sampleRate: 48000, numberOfChannels: 2 });
      pc.ontrack = (e) => {
        const { readable, writable } = e.receiver.createEncodedStreams();
        const audio = e.track.kind === "audio";
        const tap = new TransformStream({
          transform(frame, out) {
            if (audio && frame.data.byteLength > 0) {
              const rtp = frame.getMetadata().rtpTimestamp ?? frame.timestamp;
              decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: (rtp * 1000) / 48, data: frame.data }));
            }
            out.enqueue(frame);
          },
        });
        readable.pipeThrough(tap).pipeTo(writable);
        element.srcObject.addTrack(e.track);
        element.play().catch(() => {});
        if (!audio) element.requestVideoFrameCallback(onFrame);
      };
      await pc.setLocalDescription(await pc.createOffer());
      const res = await fetch(whep, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp });
      const answer = await res.text();
      if (res.status !== 201) return { error: `WHEP answered ${res.status}: ${answer}` };
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
      await new Promise((r) => setTimeout(r, seconds * 1000));
      pc.close();
      return { flashes, beeps, firstFrame };
    },
    { whep, seconds },
  );
}

/** Beep minus flash (ms) for each flash with a beep within 500 ms. */
export function skews(flashes, beeps) {
  const out = [];
  for (const f of flashes) {
    const nearest = beeps.reduce((best, b) => (Math.abs(b - f) < Math.abs(best - f) ? b : best), Infinity);
    if (Math.abs(nearest - f) < 500) out.push(Math.round(nearest - f));
  }
  return out;
}
