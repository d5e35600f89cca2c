/**
 * The SDK's log: levels, console output (`setDebugVerbose`), and batched upload of entries at
 * or above `remoteLogLevel` to the server's `POST /httplog` through the platform's HTTP POST.
 * Uploads are bounded: at most MAX_BUFFERED entries wait (older ones are dropped and counted),
 * and one upload carries at most MAX_BATCH_BYTES.
 *
 * An upload carries the session's `logToken` (from the login, resume and renewToken replies):
 * the server stores nothing without it. Until a session has one, entries wait in the buffer;
 * a refused credential (401) is forgotten and the batch waits for the next one.
 */

import type { Platform } from "./platform";
import type { LogConfig, LogLevel } from "./types";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, report: 4, disable: 5 };
const MAX_BUFFERED = 500;
const MAX_BATCH_BYTES = 48 * 1024;
const MAX_ENTRY_CHARS = 2000;
const FLUSH_EVERY_MS = 10000;

export interface LogEntry {
  time: number;
  level: LogLevel;
  message: string;
}

/** Who the uploaded entries are about; filled in as the engine learns it. */
export interface LogIdentity {
  appID: number;
  userID?: string;
  roomID?: string;
  sessionID?: string;
  /** The session's upload credential; nothing is uploaded without it. */
  logToken?: string;
  deviceID?: string;
  sdkVersion: string;
}

export class Logger {
  level: LogLevel = "info";
  remoteLevel: LogLevel = "disable";
  url: string;
  verbose = true;
  dropped = 0;
  private buffer: LogEntry[] = [];
  private timer: number | undefined;
  private uploading = false;

  constructor(
    defaultURL: string,
    readonly identity: LogIdentity,
    private readonly now: () => number,
    private readonly platform: Pick<Platform, "postJSON">,
  ) {
    this.url = defaultURL;
  }

  configure(config: LogConfig): boolean {
    for (const l of [config.logLevel, config.remoteLogLevel]) {
      if (l !== undefined && !(l in RANK)) return false;
    }
    if (config.logURL !== undefined && !/^https?:\/\//.test(config.logURL)) return false;
    if (config.logLevel) this.level = config.logLevel;
    if (config.remoteLogLevel) this.remoteLevel = config.remoteLogLevel;
    if (config.logURL) this.url = config.logURL;
    this.schedule();
    return true;
  }

  debug(message: string): void {
    this.log("debug", message);
  }
  info(message: string): void {
    this.log("info", message);
  }
  warn(message: string): void {
    this.log("warn", message);
  }
  error(message: string): void {
    this.log("error", message);
  }

  log(level: LogLevel, message: string): void {
    if (message.length > MAX_ENTRY_CHARS) message = message.slice(0, MAX_ENTRY_CHARS) + "…";
    if (this.verbose && RANK[level] >= RANK[this.level] && this.level !== "disable") {
      const line = `duet [${level}] ${message}`;
      if (level === "error") console.error(line);
      else if (level === "warn") console.warn(line);
      else console.log(line);
    }
    if (this.remoteLevel !== "disable" && RANK[level] >= RANK[this.remoteLevel]) {
      this.buffer.push({ time: this.now(), level, message });
      if (this.buffer.length > MAX_BUFFERED) {
        this.dropped += this.buffer.length - MAX_BUFFERED;
        this.buffer.splice(0, this.buffer.length - MAX_BUFFERED);
      }
      if (this.buffer.length >= 50) this.flush();
    }
  }

  /** Takes the upload credential a server reply carries (login, resume, renewToken). */
  adoptCredential(reply: { logToken?: string }): void {
    if (typeof reply.logToken === "string" && reply.logToken !== "") this.identity.logToken = reply.logToken;
  }

  /** Uploads what is buffered now (one batch at a time); failures keep the entries. */
  flush(): Promise<void> {
    if (this.uploading || this.buffer.length === 0 || this.remoteLevel === "disable") return Promise.resolve();
    if (this.identity.logToken === undefined) return Promise.resolve();
    const batch: LogEntry[] = [];
    let bytes = 512;
    for (const e of this.buffer) {
      bytes += e.message.length * 3 + 64;
      if (bytes > MAX_BATCH_BYTES && batch.length > 0) break;
      batch.push(e);
    }
    const body = { ...this.identity, dropped: this.dropped, entries: batch };
    this.uploading = true;
    const sent = (status: number) => {
      if (status >= 200 && status < 300) {
        this.buffer.splice(0, batch.length);
        this.dropped = 0;
      } else if (status === 401) {
        // The credential is refused (expired, or the app's secret was rotated): wait for a new one.
        if (this.identity.logToken === body.logToken) this.identity.logToken = undefined;
      } else if (status >= 400 && status < 500 && status !== 429) {
        // The server will never take this batch; keeping it would block the rest.
        this.buffer.splice(0, batch.length);
      }
      this.uploading = false;
    };
    return this.platform.postJSON(this.url, JSON.stringify(body), 10000).then(sent, () => sent(0));
  }

  private schedule(): void {
    if (this.remoteLevel === "disable") {
      if (this.timer !== undefined) clearInterval(this.timer);
      this.timer = undefined;
    } else if (this.timer === undefined) {
      this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    }
  }

  /** Sends what is left and stops the timer. */
  close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    return this.flush();
  }
}

/** This device's ID for log entries, kept in the platform's storage (made on first use). */
export function deviceID(platform: Pick<Platform, "load" | "save">): string {
  try {
    const known = platform.load("duet_device_id");
    if (known) return known;
    const id = `d${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
    platform.save("duet_device_id", id);
    return id;
  } catch {
    return "unknown";
  }
}

/** The log upload address that goes with a signaling address: wss://host/ws → https://host/httplog. */
export function logURLFor(server: string): string {
  const m = /^(wss?):\/\/([^/?#]+)/.exec(server);
  if (!m) return "";
  return `${m[1] === "wss" ? "https" : "http"}://${m[2]}/httplog`;
}
