/**
 * A WebRTC link to Duet that stays up while the page wants it: one peer connection at a time,
 * made, offered (exchange.ts), watched, and made again after the server or the network broke
 * it (a restart, a lost route, ICE failure), with backoff from 0.5 s to 5 s, until it is
 * stopped or the server refuses for good. A publisher (WHIP) and a player (WHEP) each own one
 * and say what goes into a fresh peer connection and what to tell the page.
 */

import { SdkError } from "../../miniprogram/src/core/errors";
import type { Logger } from "../../miniprogram/src/core/logger";
import type { DuetError } from "../../miniprogram/src/core/types";
import { Accepted, exchange, hangUp, Refusal } from "./exchange";

/** A link not connected this long after its answer is tried again. */
const CONNECT_TIMEOUT_MS = 15_000;
/** A link that stays `disconnected` this long is made again (the browser calls it failed much later). */
const DISCONNECTED_MS = 3_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 5_000;

/** What the owner of a link decides and hears. */
export interface LinkOwner {
  /**
   * The URL to offer to now; undefined when the stream is no longer wanted (the link stops).
   * `renew`: the last one was refused as expired or badly signed, ask for a fresh one.
   */
  url(renew: boolean): Promise<string | undefined>;
  /** Adds the transceivers of a fresh peer connection; a thrown DuetError fails the link for good. */
  prepare(pc: RTCPeerConnection): void;
  /** The peer connection is up: media flows. */
  up(): void;
  /** The link broke, or a try failed in a way that passes: it tries again by itself. */
  retrying(err: DuetError): void;
  /** The server refused for good (or `prepare` failed): the link stopped. */
  failed(err: DuetError): void;
}

/** How the first try went: the server took the offer (or will, later), or refused for good. */
export type FirstTry = { ok: true } | { ok: false; err: DuetError };

export class Link {
  private pc: RTCPeerConnection | undefined;
  private accepted: Accepted | undefined;
  private stopped = false;
  private failures = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private firstTry: ((outcome: FirstTry) => void) | undefined;
  /** When the current peer connection connected (ms since the epoch; 0: not connected). */
  private connectedAt = 0;
  /** The last URL was refused as expired or badly signed: the next try asks for a fresh one. */
  private renew = false;

  constructor(
    /** "publish cam-1" or "play cam-1", for logs and error messages. */
    private readonly what: string,
    private readonly owner: LinkOwner,
    private readonly logger: Logger,
  ) {}

  /** Starts the link; resolves with how its first try went. */
  start(): Promise<FirstTry> {
    const first = new Promise<FirstTry>((resolve) => (this.firstTry = resolve));
    void this.attempt();
    return first;
  }

  /** The connected peer connection (for statistics), if any. */
  get connected(): RTCPeerConnection | undefined {
    return this.pc && this.pc.connectionState === "connected" ? this.pc : undefined;
  }

  /** Ends the link and the server's session of it. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.teardown();
    this.settleFirst({ ok: true });
  }

  /**
   * Something says trying again now may work (the session is back, the stream is announced
   * again): a link waiting out its backoff tries at once.
   */
  soon(): void {
    if (this.stopped || this.timer === undefined) return;
    clearTimeout(this.timer);
    this.failures = 0;
    void this.attempt();
  }

  /**
   * The server says the media does not reach it (before the browser noticed): make the link
   * again now, if it has been connected for `settleMs` (before that, media may be on its way;
   * a link still connecting is left to finish).
   */
  restart(err: DuetError, settleMs: number): void {
    if (this.stopped || !this.pc || this.connectedAt === 0) return;
    if (Date.now() - this.connectedAt >= settleMs) this.retry(err);
  }

  private async attempt(): Promise<void> {
    this.timer = undefined;
    if (this.stopped) return;
    let url: string | undefined;
    try {
      url = await this.owner.url(this.renew);
    } catch (e) {
      // The grant could not be renewed now (reconnecting): try again later.
      const err = e as DuetError;
      return this.retry({ code: err.code || SdkError.CONNECTION_LOST, msg: `${this.what}: no fresh URL: ${err.msg || String(e)}` });
    }
    if (this.stopped) return;
    if (url === undefined) return this.stop();
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    this.pc = pc;
    try {
      this.owner.prepare(pc);
    } catch (e) {
      return this.fail(e as DuetError);
    }
    pc.onconnectionstatechange = () => this.watch(pc);
    let accepted: Accepted;
    try {
      accepted = await exchange(url, pc);
    } catch (e) {
      if (pc !== this.pc) return; // stopped or restarted meanwhile
      if (!(e instanceof Refusal)) {
        return this.fail({ code: SdkError.WEBRTC_REFUSED, msg: `${this.what}: the answer could not be applied: ${e instanceof Error ? e.message : String(e)}` });
      }
      const err = e.asError(this.what);
      if (e.renewable && !this.renew) {
        this.renew = true;
        return this.retry({ ...err, code: SdkError.MEDIA_CONNECT_FAILED });
      }
      return e.passing ? this.retry(err) : this.fail(err);
    }
    this.renew = false;
    if (pc !== this.pc) return void hangUp(accepted);
    this.accepted = accepted;
    this.settleFirst({ ok: true });
    this.watchdog = setTimeout(() => {
      if (pc === this.pc && pc.connectionState !== "connected") {
        this.retry({ code: SdkError.MEDIA_CONNECT_FAILED, msg: `${this.what}: not connected ${CONNECT_TIMEOUT_MS / 1000} s after the answer` });
      }
    }, CONNECT_TIMEOUT_MS);
  }

  private watch(pc: RTCPeerConnection): void {
    if (pc !== this.pc || this.stopped) return;
    const state = pc.connectionState;
    if (state === "connected") {
      clearTimeout(this.watchdog);
      this.connectedAt = Date.now();
      this.failures = 0;
      this.logger.info(`${this.what}: connected`);
      this.owner.up();
    } else if (state === "disconnected") {
      clearTimeout(this.watchdog);
      this.watchdog = setTimeout(() => {
        if (pc === this.pc && pc.connectionState !== "connected") {
          this.retry({ code: SdkError.MEDIA_SERVER_CLOSED, msg: `${this.what}: the connection was lost` });
        }
      }, DISCONNECTED_MS);
    } else if (state === "failed" || state === "closed") {
      this.retry({ code: SdkError.MEDIA_CONNECT_FAILED, msg: `${this.what}: the connection ${state}` });
    }
  }

  private retry(err: DuetError): void {
    this.teardown();
    this.settleFirst({ ok: true });
    const delay = Math.min(BACKOFF_MIN_MS * 2 ** this.failures, BACKOFF_MAX_MS);
    this.failures++;
    this.logger.warn(`${err.msg}; trying again in ${delay} ms`);
    this.owner.retrying(err);
    if (!this.stopped) this.timer = setTimeout(() => void this.attempt(), delay);
  }

  private fail(err: DuetError): void {
    this.logger.error(err.msg);
    this.teardown();
    this.stopped = true;
    this.settleFirst({ ok: false, err });
    this.owner.failed(err);
  }

  /**
   * Ends the current peer connection: the server's session first (`DELETE`), then the peer
   * connection (closed first, it would end the session itself and the `DELETE` find nothing).
   */
  private teardown(): void {
    clearTimeout(this.watchdog);
    this.connectedAt = 0;
    const pc = this.pc;
    this.pc = undefined;
    if (pc) {
      pc.onconnectionstatechange = null;
      pc.ontrack = null;
    }
    const close = () => {
      if (pc) pc.close();
    };
    hangUp(this.accepted).then(close, close);
    this.accepted = undefined;
  }

  private settleFirst(outcome: FirstTry): void {
    const settle = this.firstTry;
    this.firstTry = undefined;
    if (settle) settle(outcome);
  }
}
