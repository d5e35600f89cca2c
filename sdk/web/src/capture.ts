/**
 * The page's own media: `createStream` opens the camera and microphone (or the screen) with
 * the hosted cloud's options (`videoQuality` 1–4 presets, or width/height/frameRate), and a
 * failure says which device failed, with the mini-program SDK's codes.
 */

import { duetError, SdkError } from "../../miniprogram/src/core/errors";
import type { DuetError } from "../../miniprogram/src/core/types";

export interface CameraOptions {
  audio?: boolean;
  video?: boolean;
  audioInput?: string;
  videoInput?: string;
  /** 1: 320×240 15 fps, 2: 640×480 15 fps, 3: 1280×720 20 fps, 4: width/height/frameRate as given. */
  videoQuality?: 1 | 2 | 3 | 4;
  width?: number;
  height?: number;
  frameRate?: number;
  facingMode?: "user" | "environment";
  channelCount?: 1 | 2;
  /** The audio encoder's bitrate in kbit/s (kept for the hosted cloud's API; the browser picks). */
  audioBitrate?: number;
}

export interface ScreenOptions {
  audio?: boolean;
  videoQuality?: 1 | 2 | 3 | 4;
  width?: number;
  height?: number;
  frameRate?: number;
}

export interface LocalStreamConfig {
  camera?: CameraOptions;
  screen?: boolean | ScreenOptions;
}

const PRESETS: Record<number, { width: number; height: number; frameRate: number }> = {
  1: { width: 320, height: 240, frameRate: 15 },
  2: { width: 640, height: 480, frameRate: 15 },
  3: { width: 1280, height: 720, frameRate: 20 },
};

function videoConstraints(o: { videoQuality?: number; width?: number; height?: number; frameRate?: number }): MediaTrackConstraints {
  const preset = PRESETS[o.videoQuality || 2];
  const size = o.videoQuality === 4 || !preset ? { width: o.width || 640, height: o.height || 480, frameRate: o.frameRate || 15 } : preset;
  return { width: { ideal: size.width }, height: { ideal: size.height }, frameRate: { ideal: size.frameRate } };
}

/** Opens what `config` asks for (the camera with its microphone when nothing is said). */
export async function capture(config: LocalStreamConfig | undefined, onScreenEnded: (stream: MediaStream) => void): Promise<MediaStream> {
  const media = typeof navigator !== "undefined" ? navigator.mediaDevices : undefined;
  if (!media) throw duetError(SdkError.NOT_SUPPORTED, "this page has no navigator.mediaDevices (it must be served over https:// or from localhost)");
  if (config && config.screen) {
    const o: ScreenOptions = typeof config.screen === "object" ? config.screen : {};
    let stream: MediaStream;
    try {
      stream = await media.getDisplayMedia({ video: videoConstraints(o), audio: !!o.audio });
    } catch (e) {
      throw duetError(SdkError.SCREEN_CAPTURE_FAILED, `the screen could not be captured: ${describe(e)}`);
    }
    const track = stream.getVideoTracks()[0];
    if (track) track.addEventListener("ended", () => onScreenEnded(stream));
    return stream;
  }
  const camera: CameraOptions = (config && config.camera) || {};
  const wantVideo = camera.video !== false;
  const wantAudio = camera.audio !== false;
  if (!wantVideo && !wantAudio) throw duetError(SdkError.INVALID_ARGUMENT, "createStream: camera.audio and camera.video are both false");
  const video: MediaTrackConstraints | false = wantVideo
    ? { ...videoConstraints(camera), ...(camera.videoInput ? { deviceId: { exact: camera.videoInput } } : {}), ...(camera.facingMode ? { facingMode: camera.facingMode } : {}) }
    : false;
  const audio: MediaTrackConstraints | false = wantAudio
    ? { ...(camera.audioInput ? { deviceId: { exact: camera.audioInput } } : {}), ...(camera.channelCount ? { channelCount: camera.channelCount } : {}) }
    : false;
  try {
    return await media.getUserMedia({ video, audio });
  } catch (e) {
    throw await deviceError(e, wantVideo, wantAudio);
  }
}

/** Which device failed: the camera, unless only the microphone was asked for or only it is missing. */
async function deviceError(e: unknown, video: boolean, audio: boolean): Promise<DuetError> {
  let cameraMissing = false;
  let micMissing = false;
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    cameraMissing = !devices.some((d) => d.kind === "videoinput");
    micMissing = !devices.some((d) => d.kind === "audioinput");
  } catch {
    // Unknown: fall back to what was asked for.
  }
  const mic = audio && (!video || (micMissing && !cameraMissing));
  return mic
    ? duetError(SdkError.PUSH_MIC_FAILED, `the microphone could not be opened: ${describe(e)}`)
    : duetError(SdkError.PUSH_CAMERA_FAILED, `the camera could not be opened: ${describe(e)}`);
}

function describe(e: unknown): string {
  return e && typeof e === "object" && "name" in e ? `${(e as { name: string }).name}: ${(e as { message?: string }).message || ""}` : String(e);
}

/** The browser's H.264 encoders Duet can take (packetization-mode 1), best first. */
export function h264Encoders(): RTCRtpCodec[] {
  const caps = typeof RTCRtpSender !== "undefined" && RTCRtpSender.getCapabilities ? RTCRtpSender.getCapabilities("video") : null;
  const codecs = caps ? caps.codecs : [];
  return codecs.filter((c) => /^video\/H264$/i.test(c.mimeType) && /packetization-mode=1/.test(c.sdpFmtpLine || ""));
}

/** What this browser can do with Duet, in the hosted cloud's `checkSystemRequirements` shape. */
export async function systemRequirements(): Promise<{
  result: boolean;
  webRTC: boolean;
  customCapture: boolean;
  camera: boolean;
  microphone: boolean;
  screenSharing: boolean;
  videoCodec: { H264: boolean; VP8: boolean };
  errInfo: Record<string, { name?: string; message?: string }>;
}> {
  const webRTC = typeof RTCPeerConnection !== "undefined";
  const media = typeof navigator !== "undefined" ? navigator.mediaDevices : undefined;
  const errInfo: Record<string, { name?: string; message?: string }> = {};
  let camera = false;
  let microphone = false;
  if (media && typeof media.enumerateDevices === "function") {
    try {
      const devices = await media.enumerateDevices();
      camera = devices.some((d) => d.kind === "videoinput");
      microphone = devices.some((d) => d.kind === "audioinput");
    } catch (e) {
      errInfo.camera = { name: "enumerateDevices", message: String(e) };
    }
  } else {
    errInfo.camera = errInfo.microphone = { name: "NotSupported", message: "no navigator.mediaDevices (https:// or localhost only)" };
  }
  if (!webRTC) errInfo.webRTC = { name: "NotSupported", message: "no RTCPeerConnection" };
  const H264 = webRTC && h264Encoders().length > 0;
  const VP8 = false; // Duet takes H.264 only over WebRTC (docs/webrtc.md)
  return {
    result: webRTC && H264,
    webRTC,
    customCapture: typeof HTMLCanvasElement !== "undefined" && typeof HTMLCanvasElement.prototype.captureStream === "function",
    camera,
    microphone,
    screenSharing: !!media && typeof media.getDisplayMedia === "function",
    videoCodec: { H264, VP8 },
    errInfo,
  };
}
