/**
 * The seam between the core and a platform adapter. The core (everything in src/core) never
 * touches a host API: an adapter gives it a socket to the signaling server, an HTTP POST for
 * log uploads, a little storage, wake-up hints, and the binding of streams to the page's media
 * elements. The mini-program adapter (wx_platform.ts, context.ts) builds these on `wx`; a
 * browser adapter would build them on WebSocket, fetch, localStorage and WebRTC.
 */

/** What a signaling socket reports; `closed` after the socket opened or failed to. */
export interface SocketEvents {
  message(data: string | ArrayBuffer): void;
  error(why: string): void;
  closed(code: number): void;
}

/** An open (or opening) socket to the signaling server. */
export interface SignalSocket {
  /** Sends one text frame; `failed` is called when it could not be sent. */
  send(text: string, failed: () => void): void;
  /** Closes the socket (code 1000); no events follow that matter. */
  close(): void;
}

export interface Platform {
  /** Starts opening a WebSocket to `url`; may throw when the host refuses at once. */
  connect(url: string, timeoutMs: number, events: SocketEvents): SignalSocket;
  /** POSTs a JSON text; resolves with the HTTP status, or 0 when there was no response. */
  postJSON(url: string, body: string, timeoutMs: number): Promise<number>;
  /** A value kept across launches ("" when none or unreadable). */
  load(key: string): string;
  /** Keeps a value across launches (best effort). */
  save(key: string, value: string): void;
  /**
   * Calls `wake` whenever reconnecting at once is worth a try (network back, app in front);
   * returns a function that stops the calls.
   */
  onWake(wake: () => void): () => void;
}

/** The page's media elements of the streams the engine publishes and plays (may be absent). */
export interface MediaBinding {
  /** The publishing of `streamID` ended: its pusher stops sending. */
  unbindPusher(streamID: string): void;
  /** The playing of `streamID` ended: its player goes away. */
  unbindPlayer(streamID: string): void;
}
