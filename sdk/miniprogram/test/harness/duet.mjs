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
    const child = spawn(DUET, ["serve", "--data", data, "--http", "127.0.0.1:0", "--rtmp", "127.0.0.1:0", ...extra], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const duet = new Duet(child, data);
    await duet.waitForBanner();
    return duet;
  }

  constructor(child, data) {
    this.child = child;
    this.data = data;
    this.stdout = "";
    this.stderr = "";
    child.stdout.on("data", (d) => (this.stdout += d));
    child.stderr.on("data", (d) => (this.stderr += d));
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
        this.secret = /ServerSecret\s+([0-9a-f]{32})/.exec(this.stdout)[1];
        const consoleLine = /Console .*password (\S+)/.exec(this.stdout);
        this.consolePassword = consoleLine ? consoleLine[1] : undefined;
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

  async metrics() {
    return (await fetch(`${this.http}/metrics`)).text();
  }

  async stop() {
    if (this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once("exit", r));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 10000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.data, { recursive: true, force: true });
  }
}
