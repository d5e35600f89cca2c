// A browser client of Duet's signaling protocol (docs/protocol.md): requests with ids and
// replies, pushes by name, heartbeats at the interval the server announces.
export class Signaling {
  constructor(url) {
    this.url = url;
    this.nextId = 1;
    this.pending = new Map();
    this.handlers = new Map();
  }

  /** Opens the socket; resolves with the server's hello. */
  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let greeted = false;
      ws.onmessage = (ev) => {
        let frame;
        try {
          frame = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (frame.push === "hello" && !greeted) {
          greeted = true;
          const every = Math.max(1000, frame.data.heartbeatMs || 10000);
          this.heartbeat = setInterval(() => this.request("ping", {}).catch(() => {}), every);
          resolve(frame.data);
        } else if (frame.push) {
          for (const cb of this.handlers.get(frame.push) || []) cb(frame.data || {}, frame.seq);
          for (const cb of this.handlers.get("*") || []) cb(frame.push, frame.data || {});
        } else if (typeof frame.id === "number" && this.pending.has(frame.id)) {
          const { ok, fail } = this.pending.get(frame.id);
          this.pending.delete(frame.id);
          if (frame.code === 0) ok(frame.data || {});
          else fail({ code: frame.code, msg: frame.message || frame.reason });
        }
      };
      ws.onerror = () => !greeted && reject({ code: 0, msg: "cannot connect to " + this.url });
      ws.onclose = (ev) => {
        clearInterval(this.heartbeat);
        for (const { fail } of this.pending.values()) fail({ code: 0, msg: "connection closed" });
        this.pending.clear();
        for (const cb of this.handlers.get("$closed") || []) cb({ code: ev.code, reason: ev.reason });
        if (!greeted) reject({ code: ev.code, msg: "closed before hello" });
      };
    });
  }

  request(op, data) {
    const id = this.nextId++;
    return new Promise((ok, fail) => {
      this.pending.set(id, { ok, fail });
      this.ws.send(JSON.stringify({ id, op, data }));
    });
  }

  on(name, cb) {
    const list = this.handlers.get(name) || [];
    list.push(cb);
    this.handlers.set(name, list);
  }

  close() {
    clearInterval(this.heartbeat);
    if (this.ws) this.ws.close(1000, "bye");
  }
}
