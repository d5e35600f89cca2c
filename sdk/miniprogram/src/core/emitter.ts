/**
 * Event registration and delivery for the engine's `on`/`off`. Unknown event names are
 * refused with a warning; a throwing handler is logged and does not stop the others. A
 * platform may add events of its own (the browser's `screenSharingEnded`).
 */

import type { DuetEvents, EventName } from "./types";

const EVENTS: readonly EventName[] = [
  "roomStateUpdate",
  "roomStateChanged",
  "roomUserUpdate",
  "roomOnlineUserCountUpdate",
  "roomStreamUpdate",
  "streamExtraInfoUpdate",
  "roomExtraInfoUpdate",
  "IMRecvBroadcastMessage",
  "IMRecvBarrageMessage",
  "IMRecvCustomCommand",
  "tokenWillExpire",
  "publisherStateUpdate",
  "publishQualityUpdate",
  "playerStateUpdate",
  "playQualityUpdate",
  "capturedSoundLevelUpdate",
  "soundLevelUpdate",
];

type Handler = (...args: any[]) => void;

export class Emitter {
  private handlers = new Map<string, Handler[]>();
  /** The SDK's own listeners: told before the page's, and out of reach of the page's `off`. */
  private internal = new Map<string, Handler[]>();

  private readonly known: readonly string[];

  constructor(
    private readonly onHandlerError: (event: string, err: unknown) => void,
    platformEvents: readonly string[] = [],
  ) {
    this.known = [...EVENTS, ...platformEvents];
  }

  on<E extends EventName>(event: E, cb: DuetEvents[E]): boolean {
    if (!this.known.includes(event)) {
      console.warn(`duet: on("${String(event)}"): no such event; known events: ${this.known.join(", ")}`);
      return false;
    }
    if (typeof cb !== "function") {
      console.warn(`duet: on("${event}"): the callback is not a function`);
      return false;
    }
    const list = this.handlers.get(event) || [];
    list.push(cb as Handler);
    this.handlers.set(event, list);
    return true;
  }

  off<E extends EventName>(event: E, cb?: DuetEvents[E]): boolean {
    if (!this.known.includes(event)) {
      console.warn(`duet: off("${String(event)}"): no such event`);
      return false;
    }
    if (cb === undefined) {
      this.handlers.delete(event);
    } else {
      this.handlers.set(event, (this.handlers.get(event) || []).filter((h) => h !== cb));
    }
    return true;
  }

  /** Listens for the SDK itself (a platform's engine following the core's events). */
  listen<E extends EventName>(event: E, cb: DuetEvents[E]): void {
    this.internal.set(event, [...(this.internal.get(event) || []), cb as Handler]);
  }

  emit<E extends EventName>(event: E, ...args: Parameters<DuetEvents[E]>): void {
    for (const h of [...(this.internal.get(event) || []), ...(this.handlers.get(event) || [])]) {
      try {
        h(...args);
      } catch (err) {
        this.onHandlerError(event, err);
      }
    }
  }

  clear(): void {
    this.handlers.clear();
    this.internal.clear();
  }
}
