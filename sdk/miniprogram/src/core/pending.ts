/**
 * What the page asked for while the session was away (connection down, or being recovered):
 * one ordered queue of typed operations, sent once the session is back. Adding an operation
 * cancels or absorbs the earlier ones it makes pointless, so the queue always holds the net
 * effect: a publish of a stream cancels its pending stop, a stop cancels a pending publish, a
 * logout drops everything else of that room, a newer token replaces an older one.
 */

import type { DuetError, PublishGrant } from "./types";

/** Someone waiting for a queued publish: `startPublishingStream`'s promise. */
export interface Waiter {
  resolve(result: PublishGrant): void;
  reject(err: DuetError): void;
}

export interface StopPublishOp {
  kind: "stopPublish";
  roomID: string;
  streamID: string;
}

export interface PublishOp {
  kind: "publish";
  roomID: string;
  streamID: string;
  extraInfo: string;
  streamParams: string | undefined;
  waiters: Waiter[];
  /** The stop this publish cancelled: the server may still hold the stream from before. */
  cancelled: StopPublishOp | undefined;
}

export type PendingOp =
  | { kind: "logout"; roomID: string }
  /** Send the room's current token (`Room.token`) once back. */
  | { kind: "renewToken"; roomID: string }
  | StopPublishOp
  | PublishOp;

export class PendingOps {
  private ops: PendingOp[] = [];

  get size(): number {
    return this.ops.length;
  }

  /** Queues a logout of `roomID`; what else was queued for that room is dropped (publishes rejected with `err`). */
  logout(roomID: string, err: DuetError): void {
    this.dropRoom(roomID, err);
    this.ops.push({ kind: "logout", roomID });
  }

  /** Queues sending the room's token; an earlier one for the room is replaced. */
  renewToken(roomID: string): void {
    this.remove((op) => op.kind === "renewToken" && op.roomID === roomID);
    this.ops.push({ kind: "renewToken", roomID });
  }

  /** Queues a stop of a stream the server may hold for this session. */
  stopPublish(roomID: string, streamID: string): void {
    this.ops.push({ kind: "stopPublish", roomID, streamID });
  }

  /**
   * Queues a publish of `streamID` in `roomID` and adds `waiter` to those waiting for it. It
   * cancels a queued stop of the stream in the same room (the reservation is simply kept) and
   * absorbs an earlier queued publish of it (whose waiters then get this one's result).
   */
  publish(op: Omit<PublishOp, "kind" | "waiters" | "cancelled">, waiter: Waiter): void {
    const earlier = this.findPublish(op.streamID);
    let waiters = [waiter];
    let cancelled: StopPublishOp | undefined;
    if (earlier && earlier.roomID === op.roomID) {
      this.remove((o) => o === earlier);
      waiters = [...earlier.waiters, waiter];
      cancelled = earlier.cancelled;
    }
    const stop = this.ops.find((o): o is StopPublishOp => o.kind === "stopPublish" && o.streamID === op.streamID && o.roomID === op.roomID);
    if (stop) {
      this.remove((o) => o === stop);
      cancelled = stop;
    }
    this.ops.push({ kind: "publish", ...op, waiters, cancelled });
  }

  /**
   * Takes back a queued publish of `streamID` (its waiters get `err`). Returns it, so the caller
   * can tell whether the stop it cancelled must be queued again, or undefined when none was queued.
   */
  cancelPublish(streamID: string, err: DuetError): PublishOp | undefined {
    const op = this.findPublish(streamID);
    if (!op) return undefined;
    this.remove((o) => o === op);
    rejectPublishes([op], err);
    return op;
  }

  /** Forgets everything queued for `roomID` (the room was left); publishes are rejected with `err`. */
  dropRoom(roomID: string, err: DuetError): void {
    rejectPublishes(this.remove((o) => o.roomID === roomID), err);
  }

  /** Forgets everything (the session is gone); publishes are rejected with `err`. */
  clear(err: DuetError): void {
    rejectPublishes(this.remove(() => true), err);
  }

  /** Takes the oldest operation to send, if any. */
  next(): PendingOp | undefined {
    return this.ops.shift();
  }

  /** Puts an operation that could not be sent back at the front. */
  putBack(op: PendingOp): void {
    this.ops.unshift(op);
  }

  private findPublish(streamID: string): PublishOp | undefined {
    return this.ops.find((o): o is PublishOp => o.kind === "publish" && o.streamID === streamID);
  }

  private remove(pred: (op: PendingOp) => boolean): PendingOp[] {
    const gone = this.ops.filter(pred);
    this.ops = this.ops.filter((op) => !pred(op));
    return gone;
  }
}

function rejectPublishes(ops: PendingOp[], err: DuetError): void {
  for (const op of ops) if (op.kind === "publish") for (const w of op.waiters) w.reject(err);
}
