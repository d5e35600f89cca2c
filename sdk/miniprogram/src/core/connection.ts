/**
 * One WebSocket to Duet's signaling (docs/protocol.md), opened through the platform: waits for
 * `hello`, matches replies to requests by id, sends heartbeats, and reports pushes and the
 * connection's end. It knows nothing of rooms; the session decides what a drop means.
 */

import { duetError, SdkError } from "./errors";
import type { Logger } from "./logger";
import type { Platform, SignalSocket } from "./platform";
import { isPushName, Op, PROTOCOL, Push, Pushes, Reply, RequestData } from "./protocol";
import type { DuetError } from "./types";

const REQUEST_TIMEOUT_MS = 10000;
const OPEN_TIMEOUT_MS = 10000;

export type Hello = Pushes["hello"];

/** Why a connection ended: the server's `close` push when it sent one. */
export interface Ended {
  code: number;
  reason: string;
  /** Where else to go, when the server is draining (`server_draining`). */
  servers?: string[];
}

export interface ConnectionHandlers {
  /** A push this SDK knows (others are logged and dropped). */
  push(push: Push): void;
  /** The connection ended without `close()` being called. */
  ended(why: Ended): void;
}

interface Pending {
  resolve(data: any): void;
  reject(err: DuetError): void;
  timer: number;
}

export class Connection {
  hello: Hello | undefined;
  private socket: SignalSocket | undefined;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private heartbeat: number | undefined;
  private serverClose: Ended | undefined;
  private done = false;
  /** Pushes wait here until replies read in the same tick have been acted on. */
  private pushes: Push[] = [];
  private flushing = false;

  constructor(
    readonly url: string,
    private readonly platform: Platform,
    private readonly log: Logger,
    private readonly handlers: ConnectionHandlers,
  ) {}

  /** Connects and resolves with the server's hello; rejects with NETWORK_UNREACHABLE. */
  open(): Promise<Hello> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        this.done = true;
        clearTimeout(timer);
        this.teardown();
        reject(duetError(SdkError.NETWORK_UNREACHABLE, `cannot reach ${this.url}: ${why}`));
      };
      const timer = setTimeout(() => fail("no hello within 10 s"), OPEN_TIMEOUT_MS);
      const message = (data: string | ArrayBuffer) => {
        const frame = this.parse(data);
        if (!frame) return;
        if (!settled && frame.push === "hello") {
          const hello = (frame.data || {}) as Hello;
          if (hello.protocol !== PROTOCOL) {
            fail(`the server speaks protocol ${hello.protocol}, this SDK ${PROTOCOL}`);
            return;
          }
          settled = true;
          clearTimeout(timer);
          this.hello = hello;
          this.startHeartbeat(hello.heartbeatMs);
          resolve(hello);
          return;
        }
        this.dispatch(frame);
      };
      try {
        this.socket = this.platform.connect(this.url, OPEN_TIMEOUT_MS, {
          message,
          error: (why) => (settled ? this.lost() : fail(why || "socket error")),
          closed: (code) => (settled ? this.lost() : fail(`closed (${code})`)),
        });
      } catch (err) {
        fail(String(err));
      }
    });
  }

  /** The server's `close` push, once it sent one (also when it refused the connection before its hello). */
  get closedBy(): Ended | undefined {
    return this.serverClose;
  }

  /** Sends a request; resolves with the reply's data or rejects with {code, msg}. */
  request<O extends Op>(op: O, data: RequestData<O>, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Reply<O>> {
    if (this.done || !this.socket) {
      return Promise.reject(duetError(SdkError.CONNECTION_LOST, "not connected"));
    }
    const id = this.nextId++;
    const frame = JSON.stringify({ id, op, data });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(duetError(SdkError.REQUEST_TIMEOUT, `no reply to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.log.debug(`→ ${op} #${id}`);
      this.socket!.send(frame, () => this.settle(id, undefined, duetError(SdkError.CONNECTION_LOST, `cannot send ${op}`)));
    });
  }

  /** Closes the socket on purpose: `ended` is not reported, pending requests are cancelled. */
  close(): void {
    if (this.done) return;
    this.done = true;
    this.failPending(duetError(SdkError.CANCELLED, "the connection was closed"));
    this.teardown();
  }

  private parse(data: string | ArrayBuffer): any {
    if (typeof data !== "string") {
      this.log.warn("ignored a binary frame from the server");
      return undefined;
    }
    try {
      const frame = JSON.parse(data);
      return frame && typeof frame === "object" ? frame : undefined;
    } catch {
      this.log.warn("ignored a frame that is not JSON");
      return undefined;
    }
  }

  private dispatch(frame: any): void {
    if (typeof frame.push === "string") {
      const data = frame.data && typeof frame.data === "object" ? frame.data : {};
      if (frame.push === "close") this.serverClose = closeOf(data);
      if (!isPushName(frame.push)) {
        this.log.debug(`ignored the unknown push ${frame.push}`);
        return;
      }
      this.queuePush({ name: frame.push, seq: typeof frame.seq === "number" ? frame.seq : undefined, data } as Push);
    } else if (typeof frame.id === "number") {
      if (frame.code === 0) this.settle(frame.id, frame.data || {}, undefined);
      else this.settle(frame.id, undefined, duetError(frame.code, frame.message || frame.reason || "refused"));
    }
  }

  /**
   * A push may arrive in the same tick as the reply it follows (a login reply, then a room
   * event): the code awaiting the reply runs in a microtask, so pushes are handed on two
   * microtask hops later, in order, once that code has registered what the push refers to.
   */
  private queuePush(push: Push): void {
    this.pushes.push(push);
    if (this.flushing) return;
    this.flushing = true;
    Promise.resolve()
      .then(() => undefined)
      .then(() => {
        this.flushing = false;
        const batch = this.pushes;
        this.pushes = [];
        for (const p of batch) this.handlers.push(p);
      });
  }

  private settle(id: number, data: unknown, err: DuetError | undefined): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(data);
  }

  private startHeartbeat(everyMs: number): void {
    const interval = Math.max(1000, everyMs || 10000);
    this.heartbeat = setInterval(() => {
      // A ping unanswered within two intervals means the socket is dead even if it never said so.
      this.request("ping", {}, interval * 2).catch((err: DuetError) => {
        if (err.code === SdkError.REQUEST_TIMEOUT) {
          this.log.warn("heartbeat unanswered; dropping the connection");
          this.lost();
        }
      });
    }, interval);
  }

  private lost(): void {
    if (this.done) return;
    this.done = true;
    this.failPending(duetError(SdkError.CONNECTION_LOST, "the connection dropped"));
    this.teardown();
    // After the pushes still queued (a kickout before the close must be seen first).
    Promise.resolve()
      .then(() => undefined)
      .then(() => undefined)
      .then(() => this.handlers.ended(this.serverClose || { code: SdkError.CONNECTION_LOST, reason: "connection_lost" }));
  }

  private failPending(err: DuetError): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
  }

  private teardown(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      try {
        socket.close();
      } catch {
        // Already closed.
      }
    }
  }
}

/** The `close` push's data, checked. */
function closeOf(data: any): Ended {
  const ended: Ended = { code: Number(data.code) || 0, reason: String(data.reason || "") };
  if (Array.isArray(data.servers)) ended.servers = data.servers.filter((s: unknown): s is string => typeof s === "string" && /^wss?:\/\/\S+$/.test(s));
  return ended;
}
