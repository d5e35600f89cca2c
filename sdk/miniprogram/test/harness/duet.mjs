// Starts the real `duet serve` on loopback ephemeral ports for a test, and mints tokens with
// the real CLI. The binary is the workspace's debug build (built here if missing).
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const workspace = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR || join(workspace, "target");
export const DUET = join(targetDir, "debug", "duet");

function ensureBinary() {
  if (!existsSync(DUET)) {
    execFileSync("cargo", ["build", "-q", "--bin", "duet"], { cwd: workspace, stdio: "inherit" });
  }
}

export class Duet {
  static async start(extra = []) {
    ensureBinary();
    const data = mkdtempSync(join(tmpdir(), "duet-sdk-"));
    const duet = new Duet(data, extra);
    duet.spawn("127.0.0.1:0", "127.0.0.1:0");
    await duet.waitForBanner();
    return duet;
  }

  constructor(data, extra) {
    this.data = data;
    this.extra = extra;
  }

  spawn(http, rtmp) {
    this.child = spawn(DUET, ["serve", "--data", this.data, "--http", http, "--rtmp", rtmp, ...this.extra], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.stdout = "";
    this.stderr = "";
    this.child.stdout.on("data", (d) => (this.stdout += d));
    this.child.stderr.on("data", (d) => (this.stderr += d));
  }

  /**
   * Kills the server as a crash would (SIGKILL: no goodbye to anyone) and, `downMs` later,
   * starts it again on the same addresses with the same data folder (apps and secrets persist;
   * sessions, rooms and streams do not).
   */
  async crashAndRestart(downMs) {
    await this.crash();
    await new Promise((r) => setTimeout(r, downMs));
    this.spawn(this.http.replace("http://", ""), this.rtmp);
    await this.waitForBanner();
  }

  /** Kills the server as a crash would (SIGKILL). */
  async crash() {
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGKILL");
    await exited;
  }

  waitForBanner() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner from duet serve:\n${this.stdout}\n${this.stderr}`)), 30000);
      const check = () => {
        const lines = this.stdout.trimEnd().split("\n");
        if (!this.stdout.includes("Test token") || !lines[lines.length - 1].trim().startsWith("04")) return;
        clearTimeout(timer);
        this.child.stdout.off("data", check);
        const http = /HTTP\/WebSocket.*listening on ([\d.:]+)/.exec(this.stdout)[1];
        this.rtmp = /RTMP .*listening on ([\d.:]+)\)/.exec(this.stdout)[1];
        this.appID = Number(/AppID\s+(\d+)/.exec(this.stdout)[1]);
        // A restart prints neither the secret nor the console password again.
        const secret = /ServerSecret\s+([0-9a-f]{32})/.exec(this.stdout);
        if (secret) this.secret = secret[1];
        const consoleLine = /Console .*password (\S+)/.exec(this.stdout);
        if (consoleLine) this.consolePassword = consoleLine[1];
        this.http = `http://${http}`;
        this.server = `ws://${http}/ws`;
        resolve();
      };
      this.child.stdout.on("data", check);
      this.child.on("exit", (code) => reject(new Error(`duet serve exited (${code}):\n${this.stderr}`)));
    });
  }

  /** A token04 for `userID`, from `duet token mint`. */
  async token(userID, { roomID, ttl, publish = true, streamIDs = [] } = {}) {
    const args = ["token", "mint", "--data", this.data, "--app-id", String(this.appID), "--user-id", userID];
    if (roomID) args.push("--room-id", roomID, "--allow-login");
    if (roomID && publish) args.push("--allow-publish");
    for (const s of streamIDs) args.push("--stream-id", s);
    if (ttl) args.push("--ttl", String(ttl));
    const { stdout } = await run(DUET, args);
    return stdout.trim();
  }

  /**
   * Asks this node to drain (`duet node drain`, through the cluster's Redis in
   * DUET_REDIS_URL) and resolves with its exit code once it has sent its clients away and exited.
   */
  async drain() {
    const exited = new Promise((r) => this.child.once("exit", r));
    const nodeID = this.extra[this.extra.indexOf("--node-id") + 1];
    await run(DUET, ["node", "drain", "--data", this.data, "--node-id", nodeID]);
    return exited;
  }

  async metrics() {
    return (await fetch(`${this.http}/metrics`)).text();
  }

  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once("exit", r));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 10000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.data, { recursive: true, force: true });
  }
}
