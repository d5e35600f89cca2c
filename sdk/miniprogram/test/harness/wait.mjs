// Waiting for a condition in tests: polls until it holds, failing with a description (and
// whatever `detail` says about the state) when it does not within the bound.
export async function waitFor(check, { timeout = 20000, what = "condition", detail = () => "" } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} ${detail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Records an engine's events as [name, ...args] for assertions. */
export function record(engine, names) {
  const events = [];
  for (const name of names) engine.on(name, (...args) => events.push([name, ...args]));
  return events;
}
