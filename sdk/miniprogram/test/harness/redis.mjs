// Debian's `redis-server` for the cluster tests: a free loopback port, its data in a temporary
// folder, killed by `stop`.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function listening(port) {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export class Redis {
  static async start() {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "duet-redis-"));
    const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--dir", dir], {
      stdio: "ignore",
    });
    const deadline = Date.now() + 10000;
    while (!(await listening(port))) {
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const redis = new Redis();
    Object.assign(redis, { child, dir, port, url: `redis://127.0.0.1:${port}` });
    return redis;
  }

  /** Kills the server and, `downMs` later, starts it again on the same port with what it kept. */
  async restart(downMs) {
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGKILL");
    await exited;
    await new Promise((r) => setTimeout(r, downMs));
    this.child = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--dir", this.dir], {
      stdio: "ignore",
    });
    const deadline = Date.now() + 10000;
    while (!(await listening(this.port))) {
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${this.port} again`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  stop() {
    this.child.kill("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}
