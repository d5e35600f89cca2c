/**
 * What the core takes from every JavaScript host it runs on (mini-program, browser, Node):
 * the console and timers. Everything else of the host comes through `Platform` (platform.ts).
 */

declare const console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
};

declare function setTimeout(cb: () => void, ms: number): number;
declare function clearTimeout(id: number | undefined): void;
declare function setInterval(cb: () => void, ms: number): number;
declare function clearInterval(id: number | undefined): void;
