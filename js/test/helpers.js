// Shared by the connection tests: a recording subscriber and a way to let the connection's
// microtask run.

import { subscribe } from "../src/connection.js";

export const HUB = "http://hub.test/sse-widgets/";
export const E = "ep0ch"; // the hub's epoch in these tests

/** Let the connection's microtask (where subscriptions are applied) run. */
export async function settle() {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
}

/**
 * A subscription that records what it receives: `[name, channel, payload, id]` per event,
 * `["RESET", channel, reason]` and `["CLOSE", channel, reason]` for hub events.
 * @param {Partial<import("../src/subscription.js").SubscribeOptions>} options
 */
export function recorder(options = {}) {
  /** @type {any[]} */
  const got = [];
  const unsubscribe = subscribe({
    url: HUB,
    channels: ["a"],
    onEvent: (name, data, meta) => got.push([name, meta.channel, data, meta.id]),
    onReset: (channel, reason) => got.push(["RESET", channel, reason]),
    onClose: (channel, reason) => got.push(["CLOSE", channel, reason]),
    ...options,
  });
  return { got, unsubscribe, ids: () => got.map((g) => g[3] ?? g[0]) };
}

/** @param {import("./fake-event-source.js").FakeEventSource} source */
export function channelsOf(source) {
  return source.params.getAll("channel");
}
