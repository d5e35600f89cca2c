/**
 * One WHIP (RFC 9725) or WHEP offer/answer exchange with Duet: POST the peer connection's
 * offer to the URL signaling granted, apply the answer, remember the session's `Location` to
 * DELETE it at the end. Duet answers ICE-lite with its candidates in the answer, so nothing
 * trickles. A refusal carries the server's `{code, message}` (docs/error-codes.md) and whether
 * trying again later can help.
 */

import { SdkError } from "../../miniprogram/src/core/errors";
import { ServerError } from "../../miniprogram/src/core/protocol";
import type { DuetError } from "../../miniprogram/src/core/types";

/** How long one POST may take before it counts as a network failure. */
const POST_TIMEOUT_MS = 10_000;

/**
 * Refusals that go away by themselves: the stream is not live yet, or still held by this
 * page's previous session (a link made again before the server saw the old one end), a cap
 * is full, the node is busy or restarting.
 */
const PASSING: string[] = ["stream_not_found", "stream_live", "webrtc_busy", "webrtc_app_busy", "webrtc_stream_busy", "internal"];
/** Refusals of the URL itself (signed an hour ago, or before the app's secret was rotated): a fresh grant may pass. */
const RENEWABLE: string[] = ["url_expired", "url_bad_signature", "url_missing", "url_malformed"];

export class Refusal {
  constructor(
    /** The HTTP status (0: no answer). */
    readonly status: number,
    /** The server's error code (docs/error-codes.md), or "network". */
    readonly code: string,
    readonly message: string,
  ) {}

  /** Whether the same request may succeed later without the page doing anything. */
  get passing(): boolean {
    return this.status === 0 || this.status >= 500 || PASSING.indexOf(this.code) >= 0;
  }

  /** Whether a freshly signed URL may succeed where this one was refused. */
  get renewable(): boolean {
    return RENEWABLE.indexOf(this.code) >= 0;
  }

  /**
   * The refusal as the SDK reports it: the server's numeric code where it has one; else
   * `WEBRTC_REFUSED` for a refusal for good, `MEDIA_CONNECT_FAILED` for one tried again.
   */
  asError(what: string): DuetError {
    const known = (ServerError as Record<string, number>)[this.code];
    if (this.status === 0) return { code: SdkError.MEDIA_CONNECT_FAILED, msg: `${what}: ${this.message}` };
    const code = known !== undefined ? known : this.passing ? SdkError.MEDIA_CONNECT_FAILED : SdkError.WEBRTC_REFUSED;
    return { code, msg: `${what}: ${this.status} ${this.code}: ${this.message}` };
  }
}

/** An accepted exchange: the session's resource, to end it with `hangUp`. */
export interface Accepted {
  location: string;
}

/**
 * Sends `pc`'s offer to `url` and applies the answer; throws a `Refusal`. When `pc` was closed
 * meanwhile (the link stopped), the session the server made is returned unanswered, for the
 * caller to end.
 */
export async function exchange(url: string, pc: RTCPeerConnection): Promise<Accepted> {
  await pc.setLocalDescription(await pc.createOffer());
  const offer = pc.localDescription ? pc.localDescription.sdp : "";
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), POST_TIMEOUT_MS);
  let res: Response;
  let body: string;
  try {
    res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: offer, signal: abort.signal });
    body = await res.text();
  } catch (e) {
    throw new Refusal(0, "network", `no answer from ${new URL(url).host}: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    clearTimeout(timer);
  }
  if (res.status !== 201) throw refusalOf(res.status, body);
  const location = res.headers.get("Location");
  const accepted = { location: location ? new URL(location, url).href : "" };
  if (pc.signalingState === "closed") return accepted;
  try {
    await pc.setRemoteDescription({ type: "answer", sdp: body });
  } catch (e) {
    void hangUp(accepted);
    throw e;
  }
  return accepted;
}

/**
 * Ends a session the server may still hold (best effort: it may have ended it already);
 * resolves when the server answered, or could not be reached within a second.
 */
export async function hangUp(accepted: Accepted | undefined): Promise<void> {
  if (!accepted || !accepted.location) return;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 1000);
  try {
    await fetch(accepted.location, { method: "DELETE", keepalive: true, signal: abort.signal });
  } catch {
    // The server is gone or ended it first: nothing is left to end.
  } finally {
    clearTimeout(timer);
  }
}

function refusalOf(status: number, body: string): Refusal {
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
    if (typeof parsed.code === "string") return new Refusal(status, parsed.code, typeof parsed.message === "string" ? parsed.message : "");
  } catch {
    // Not Duet's JSON: a proxy's page, say.
  }
  return new Refusal(status, `http_${status}`, body.slice(0, 200));
}
