/**
 * The browser's cameras, microphones and speakers in the hosted cloud's shapes
 * (`enumDevices`, `getCameras`, …), and sound levels read from a peer connection's statistics.
 */

export interface DeviceInfo {
  deviceID: string;
  deviceName: string;
}

export interface DeviceInfos {
  microphones: DeviceInfo[];
  speakers: DeviceInfo[];
  cameras: DeviceInfo[];
}

/** The page's devices by kind (names are empty until the page was granted a device). */
export async function enumDevices(): Promise<DeviceInfos> {
  const media = typeof navigator !== "undefined" ? navigator.mediaDevices : undefined;
  const all = media && typeof media.enumerateDevices === "function" ? await media.enumerateDevices() : [];
  const of = (kind: MediaDeviceKind) => all.filter((d) => d.kind === kind).map((d) => ({ deviceID: d.deviceId, deviceName: d.label }));
  return { microphones: of("audioinput"), speakers: of("audiooutput"), cameras: of("videoinput") };
}

/**
 * The audio level (0–100) a peer connection sends (`media-source`) or receives
 * (`inbound-rtp`), from its statistics; 0 when there is none.
 */
export async function soundLevel(pc: RTCPeerConnection, direction: "send" | "receive"): Promise<number> {
  const report = await pc.getStats();
  let level = 0;
  report.forEach((s: Record<string, any>) => {
    const mine = direction === "send" ? s.type === "media-source" : s.type === "inbound-rtp";
    if (mine && s.kind === "audio" && typeof s.audioLevel === "number") level = s.audioLevel;
  });
  return Math.round(Math.min(1, Math.max(0, level)) * 100);
}
