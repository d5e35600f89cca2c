/**
 * When to try reconnecting: at once, then after 0.5, 1, 2, 4, then every 8 s (plus up to 20%
 * jitter) for at most `windowMs`, one attempt at a time, or at once when asked (network back,
 * app in front). Callers that must not race an attempt can wait for the retrying to end.
 */

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];

/** What an attempt reports. */
export type Outcome = "done" | "failed";

export class Retrier {
  /** Counts starts and stops, so an attempt can tell whether it still belongs to this run. */
  private run = 0;
  private active = false;
  private running = false;
  private attempts = 0;
  private deadline = 0;
  private timer: number | undefined;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number,
    /** One attempt of run `run`; `done` ends the retrying (the attempt calls `stop`). */
    private readonly attempt: (run: number) => Promise<Outcome>,
    /** The window passed without success. */
    private readonly gaveUp: () => void,
  ) {}

  get retrying(): boolean {
    return this.active;
  }

  /** Whether `run` is still the current, unstopped run. */
  current(run: number): boolean {
    return this.active && run === this.run;
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.run++;
    this.attempts = 0;
    this.deadline = this.now() + this.windowMs;
    this.schedule(0);
  }

  /** Try now instead of waiting out the backoff. */
  soon(): void {
    if (this.active && !this.running) this.schedule(0);
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.active = false;
    this.run++;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when the retrying ends (at once when not retrying). */
  settled(): Promise<void> {
    return this.active ? new Promise((resolve) => this.waiters.push(resolve)) : Promise.resolve();
  }

  private schedule(delay: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.fire();
    }, delay);
  }

  private async fire(): Promise<void> {
    if (!this.active || this.running) return;
    const run = this.run;
    this.running = true;
    this.attempts++;
    let outcome: Outcome = "failed";
    try {
      outcome = await this.attempt(run);
    } finally {
      this.running = false;
    }
    if (outcome === "done" || !this.current(run)) return;
    if (this.now() >= this.deadline) {
      this.stop();
      this.gaveUp();
      return;
    }
    const base = BACKOFF_MS[Math.min(this.attempts - 1, BACKOFF_MS.length - 1)];
    this.schedule(Math.round(base * (1 + Math.random() * 0.2)));
  }
}
