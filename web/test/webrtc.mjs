// What the WebRTC browser tests share: publishing the fake camera over WHIP and playing over
// WHEP from a page, as a Web page would with RTCPeerConnection, and ffmpeg as an RTMP source.
import { spawn } from "node:child_process";

/** Publishes the fake camera (and microphone, with `audio`) from `page` to `whip`; resolves
 * when the peer connection is up. The page keeps it as `window.duetPc`. */
export async function publishFrom(page, whip, { audio = false } = {}) {
  return page.evaluate(
    async ({ whip, audio }) => {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio });
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
    { whip, audio },
  );
}

/** Plays `whep` in `page` (video and audio, receive only); resolves when the peer connection
 * is up, with how long the first decoded frame took after that. The page keeps the peer
 * connection as `window.duetPlayer`. */
export async function playFrom(page, whep) {
  return page.evaluate(async (whep) => {
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
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
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
  }, whep);
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
