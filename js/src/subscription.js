// A widget's subscription as the shared connection routes to it: options checked up front
// (fail fast, with a message saying what to pass), the event-name filter, and the per-channel
// state a catch-up needs (see "History for late subscribers" in connection.js).
//
// Must not: open streams or know about other subscriptions.

/** Event names listened to for a subscription without an `events` filter. */
export const DEFAULT_EVENTS = Object.freeze(["message", "progress", "log", "text", "point"]);
/** @type {Readonly<Record<string, number>>} a larger replay includes a smaller one */
export const REPLAY_RANK = Object.freeze({ none: 0, snapshot: 1, history: 2 });

/** @typedef {import("./channel-log.js").Frame} Frame */

/**
 * @typedef {object} EventMeta
 * @property {string} channel
 * @property {string} id the cursor of the event
 * @property {number} time when the hub received it (unix seconds)
 *
 * @typedef {object} SubscribeOptions
 * @property {string} url hub base URL, e.g. `http://127.0.0.1:8888/sse-widgets/`
 * @property {string[]} channels
 * @property {string[] | null} [events] only these event names (default: all received)
 * @property {"none" | "snapshot" | "history"} [replay] where a new subscription starts
 * @property {string} [token] sent as the `token` query argument
 * @property {(name: string, payload: any, meta: EventMeta) => void} onEvent payloads are
 *   shared between subscribers: treat them as read-only
 * @property {(channel: string, reason: string) => void} [onReset]
 * @property {(channel: string, reason: string) => void} [onClose]
 * @property {(status: StreamStatus) => void} [onStatus] the shared stream's state: now (on
 *   subscribing) and at every change
 *
 * @typedef {"connecting" | "live" | "retrying" | "unreachable"} StreamStatus
 *   "retrying": it was live and dropped, the browser reconnects; "unreachable": it failed
 *   before it was ever live (HTTP error, wrong content type, no server) — it is retried with
 *   backoff, but a widget may prefer another way to the events (the kernel relay)
 */

export class Subscription {
  /** @param {SubscribeOptions} o */
  constructor(o) {
    if (!o || typeof o.url !== "string" || o.url === "") {
      throw new TypeError("subscribe() needs `url`, the hub base URL (e.g. '/sse-widgets/')");
    }
    const channels = o.channels;
    if (!Array.isArray(channels) || channels.length === 0 || !channels.every(isName)) {
      throw new TypeError("subscribe() needs `channels`, a non-empty array of channel names");
    }
    if (o.events != null && !(Array.isArray(o.events) && o.events.every(isName))) {
      throw new TypeError("`events` must be an array of event names, or null for all");
    }
    const replay = o.replay ?? "none";
    if (!Object.prototype.hasOwnProperty.call(REPLAY_RANK, replay)) {
      throw new TypeError(`replay must be "none", "snapshot" or "history", not ${replay}`);
    }
    if (typeof o.onEvent !== "function") throw new TypeError("subscribe() needs `onEvent`");
    this.channels = new Set(channels);
    this.events = o.events == null ? null : new Set(o.events);
    this.replay = replay;
    this.onEvent = o.onEvent;
    this.onReset = o.onReset;
    this.onClose = o.onClose;
    this.onStatus = o.onStatus;
    this.fresh = true; // not yet taken into account by Connection.reconcile
    this.active = true;
    /** @type {Map<string, number>} channel -> frames with seq <= this were already seen */
    this.skip = new Map();
    /** @type {Map<string, {reason: string, seq: number, held: Frame[]}>} undecided resets */
    this.pending = new Map();
  }

  /**
   * Route one frame of a channel this subscription has: skip what it has already seen (its
   * threshold during a catch-up), and settle an undecided reset (see connection.js).
   * @param {Frame} frame
   */
  receive(frame) {
    const channel = frame.channel;
    const skip = this.skip.get(channel);
    const pending = this.pending.get(channel);
    if (pending !== undefined) {
      if (frame.seq <= pending.seq) {
        pending.held.push(frame); // a state re-sent with the reset (it carries the reset's id)
        return;
      }
      this.pending.delete(channel);
      // The channel's first retained frame: at or below the position, history reaches back
      // past it and nothing was lost; above, a loss cannot be ruled out, so rebuild.
      if (skip !== undefined && frame.seq <= skip) return;
      this.skip.delete(channel);
      call(this.onReset, channel, pending.reason);
      for (const held of pending.held) this.emit(held);
      this.emit(frame);
      return;
    }
    if (skip === undefined || frame.seq > skip) this.emit(frame);
  }

  /**
   * A `reset` of one of its channels. Inside the part already seen (a catch-up replay) it is
   * undecided until the channel's next frame: see receive().
   * @param {string} channel
   * @param {string} reason
   * @param {number} seq
   */
  receiveReset(channel, reason, seq) {
    const skip = this.skip.get(channel);
    if (skip !== undefined && seq <= skip) {
      this.pending.set(channel, { reason, seq, held: [] });
    } else {
      this.pending.delete(channel);
      call(this.onReset, channel, reason);
    }
  }

  /** @param {Frame} frame handed to the widget if the event filter lets it through */
  emit(frame) {
    if (this.events === null || this.events.has(frame.name)) {
      call(this.onEvent, frame.name, frame.payload, frame.meta);
    }
  }
}

/**
 * Call a widget's handler; one widget's exception must not break the stream for the others.
 * @param {Function | undefined} fn
 * @param {...any} args
 */
export function call(fn, ...args) {
  if (typeof fn !== "function") return;
  try {
    fn(...args);
  } catch (error) {
    console.error("sse_widgets: a subscriber's handler failed", error);
  }
}

/**
 * `<epoch>-<seq>` as the hub issues it, or null.
 * @param {string | null} id
 * @returns {{epoch: string, seq: number} | null}
 */
export function parseCursor(id) {
  if (!id) return null;
  const dash = id.lastIndexOf("-");
  const digits = id.slice(dash + 1);
  if (dash < 0 || !/^\d+$/.test(digits)) return null;
  return { epoch: id.slice(0, dash), seq: Number(digits) };
}

/** @param {unknown} name */
function isName(name) {
  return typeof name === "string" && name !== "";
}
