// One EventSource per page and hub, shared by every widget (HTTP/1.1 allows ~6 connections per
// origin: one per widget would stall the page). Widgets subscribe; this module multiplexes.
//
//   const unsubscribe = subscribe({
//     url: "http://127.0.0.1:8888/sse-widgets/",  // hub base URL (a missing final "/" is added)
//     token,                  // optional: sent as ?token= (query args already in `url` are kept)
//     channels: ["train"],
//     events: ["progress"],   // optional filter; default: message, progress, log, text, point
//     replay: "history",      // "none" (default) | "snapshot" | "history": where to start
//     onEvent(name, payload, { channel, id, time }) {},
//     onReset(channel, reason) {},  // clear that channel's state: its snapshot follows
//     onClose(channel, reason) {},  // the channel was deleted; it gets no more events
//     onStatus(status) {},  // "connecting" | "live" | "retrying" | "unreachable" (never live)
//   });
//   unsubscribe();  // in the widget's cleanup; the last one closes the EventSource
//
// How it works (wire contract: docs/http-api.md):
// - Subscriptions made in the same tick are applied together in a microtask: ten widgets
//   created at once open one stream, not ten in turn.
// - The stream carries the union of the subscriptions' channels. When the set changes it is
//   reopened with `last_event_id=<last id seen>` (EventSource cannot set headers on its first
//   request); the hub sends exactly what came after: nothing lost, nothing repeated. (Every
//   frame carries an id: the hub guarantees it.)
// - After a drop the browser reconnects by itself (after the hub's `retry:`) sending
//   Last-Event-ID, which the hub prefers over the query. Only when the EventSource gives up
//   (readyState CLOSED: HTTP error, wrong content type) do we reopen it from the last id, with
//   backoff (1 s doubling to 30 s).
// - EventSource hands named events only to listeners for that name, so we listen to the
//   default names plus every name a subscription's `events` lists.
//
// History for late subscribers. The hub keeps one cursor per stream, not per channel, and
// ignores `replay` when given a cursor, so a plain reopen cannot give history to a subscription
// made after the stream started. Two cases:
// 1. The channel is streamed already and its ChannelLog is complete (the page got its whole
//    history and dropped nothing since): the newcomer gets the log's copy, locally. The
//    stream is untouched, so the other subscribers cannot notice anything.
// 2. Otherwise (a new channel, or no complete log): reopen from the start of the hub's epoch
//    (`last_event_id=<epoch>-0`), which replays every channel's history; each subscription
//    that already had events skips frames with `seq <=` the position it had seen, the
//    newcomer gets everything. Ids only increase, so the threshold is exact: no duplicates,
//    no gaps. One corner: the replay opens with a `reset` for each channel that ever dropped
//    history, ambiguous for a subscription already past it (did the loss end before its
//    position?). It is held until the channel's next frame decides: a retained frame at or
//    below the position proves nothing was lost (the reset is dropped); otherwise the
//    subscription gets the reset and rebuilds from the snapshot that follows. Never a gap.
// The first open has nothing to protect: it asks for the largest replay any subscription
// wants, so a "none" subscription made in the same tick as a "history" one sees history too.
//
// Must not: render, or keep anything after the last unsubscribe.

import { ChannelLog } from "./channel-log.js";
import { DEFAULT_EVENTS, REPLAY_RANK, Subscription, call, parseCursor } from "./subscription.js";

export { scheduleRender } from "./frames.js";
export { DEFAULT_EVENTS, parseCursor };

/** @typedef {import("./subscription.js").SubscribeOptions} SubscribeOptions */
/** @typedef {import("./channel-log.js").Frame} Frame */

const CLOSED = 2; // EventSource.CLOSED; fakes and polyfills need not define the constant
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30_000;

/** @type {any} */
let EventSourceImpl = globalThis.EventSource;

/**
 * Use another EventSource implementation (tests, a polyfill); `undefined` restores the
 * browser's. Applies to streams opened from now on.
 * @param {any} impl a constructor taking a URL, like `EventSource`
 * @returns {any} the previous implementation
 */
export function setEventSourceImpl(impl) {
  const previous = EventSourceImpl;
  EventSourceImpl = impl ?? globalThis.EventSource;
  return previous;
}

// On globalThis so that every bundle on the page (each widget's ESM is its own module
// instance in anywidget) shares one registry, hence one EventSource per hub.
const REGISTRY = Symbol.for("sse_widgets.connections.v1");
/** @type {Map<string, Connection>} */
const connections = /** @type {any} */ (globalThis)[REGISTRY] ?? new Map();
/** @type {any} */ (globalThis)[REGISTRY] = connections;

/**
 * Receive a hub's events over the page's shared stream.
 * @param {SubscribeOptions} options
 * @returns {() => void} unsubscribe (idempotent)
 */
export function subscribe(options) {
  const sub = new Subscription(options);
  if (typeof EventSourceImpl !== "function") {
    throw new TypeError("no EventSource here: give one to setEventSourceImpl()");
  }
  const base = new URL(options.url, globalThis.location?.href);
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  const key = `${base.href}\n${options.token ?? ""}`;
  const connection = connections.get(key) ?? new Connection(key, base, options.token);
  connections.set(key, connection);
  connection.add(sub);
  return () => connection.remove(sub);
}

/** Close every stream of the page now and forget all subscriptions (page teardown, tests). */
export function closeAll() {
  for (const connection of [...connections.values()]) connection.teardown();
}

class Connection {
  /**
   * @param {string} key
   * @param {URL} base
   * @param {string | undefined} token
   */
  constructor(key, base, token) {
    this.key = key;
    this.base = base;
    this.token = token;
    /** @type {Set<Subscription>} */
    this.subs = new Set();
    /** @type {any} the current EventSource */
    this.source = null;
    /** @type {(event: MessageEvent) => void} */
    this.onFrame = () => {};
    /** Channels the current stream (or the one a pending retry resumes) carries. */
    this.streamChannels = new Set();
    this.listening = new Set(["reset", "close"]);
    /** @type {string | null} id of the last event dispatched: where to resume */
    this.cursor = null;
    /** @type {string | null} epoch the subscriptions' skip thresholds belong to */
    this.skipEpoch = null;
    /** @type {Map<string, ChannelLog>} */
    this.logs = new Map();
    /** @type {[Subscription, string][]} (subscription, channel) wanting history at next open */
    this.catchUp = [];
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.retryTimer = null;
    this.failures = 0;
    /** @type {import("./subscription.js").StreamStatus} */
    this.status = "connecting";
    this.everLive = false; // opened at least once: a later failure is "retrying"
    this.queued = false;
    this.closed = false;
  }

  /** @param {Subscription} sub */
  add(sub) {
    this.subs.add(sub);
    this.schedule();
  }

  /** @param {Subscription} sub */
  remove(sub) {
    if (!sub.active) return;
    sub.active = false;
    this.subs.delete(sub);
    this.schedule();
  }

  schedule() {
    if (this.queued || this.closed) return;
    this.queued = true;
    queueMicrotask(() => {
      this.queued = false;
      if (!this.closed) this.reconcile();
    });
  }

  /** Bring the stream in line with the subscriptions (see the top of the file). */
  reconcile() {
    if (this.subs.size === 0) {
      this.teardown(); // last widget gone: no stream, no timer, no retry
      return;
    }
    let newName = false;
    for (const sub of this.subs) {
      for (const name of sub.events ?? DEFAULT_EVENTS) {
        if (this.listening.has(name)) continue;
        this.listening.add(name);
        this.source?.addEventListener(name, this.onFrame);
        newName = true;
      }
    }
    // Logs hold only what was listened to: with a new name they no longer hold everything.
    if (newName) for (const log of this.logs.values()) log.invalidate();
    /** @type {[Subscription, string][]} */
    const fromLog = [];
    for (const sub of this.subs) {
      if (!sub.fresh) continue;
      sub.fresh = false;
      call(sub.onStatus, this.status);
      if (sub.replay === "none") continue;
      for (const channel of sub.channels) {
        const log = this.logs.get(channel);
        if (this.streamChannels.has(channel) && log?.complete) fromLog.push([sub, channel]);
        else this.catchUp.push([sub, channel]);
      }
    }
    const changed = !sameSet(this.wanted(), this.streamChannels);
    if (this.retryTimer === null && (changed || this.catchUp.length > 0 || !this.source)) {
      this.open();
    } // else a retry is pending: it opens with the state as it is then
    this.serveLogs(fromLog);
  }

  /** @returns {Set<string>} */
  wanted() {
    const channels = new Set();
    for (const sub of this.subs) for (const channel of sub.channels) channels.add(channel);
    return channels;
  }

  /** (Re)open the stream for the current channel set, from the right position. */
  open() {
    clearTimeout(this.retryTimer ?? undefined);
    this.retryTimer = null;
    this.closeSource();
    const wanted = this.wanted();
    const catchUp = this.catchUp.filter(([sub, ch]) => sub.active && sub.channels.has(ch));
    this.catchUp = [];
    this.streamChannels = wanted;
    for (const ch of [...this.logs.keys()]) if (!wanted.has(ch)) this.logs.delete(ch);
    if (wanted.size === 0) return; // every channel closed; a new subscription reopens
    const url = new URL("api/events", this.base);
    for (const [name, value] of this.base.searchParams) url.searchParams.append(name, value);
    if (this.token) url.searchParams.set("token", this.token);
    for (const channel of [...wanted].sort()) url.searchParams.append("channel", channel);
    // Undecided resets are re-announced by the new stream if the loss still matters.
    for (const sub of this.subs) sub.pending.clear();
    for (const log of this.logs.values()) log.pending = null;
    const position = parseCursor(this.cursor);
    if (this.cursor === null) {
      // Nothing delivered yet: a fresh start can neither repeat nor skip anything seen.
      let replay = "none";
      for (const sub of this.subs) {
        if (REPLAY_RANK[sub.replay] > REPLAY_RANK[replay]) replay = sub.replay;
      }
      if (replay !== "none") url.searchParams.set("replay", replay);
      for (const sub of this.subs) sub.skip.clear();
      this.skipEpoch = null;
      this.logs = new Map([...wanted].map((ch) => [ch, new ChannelLog(replay === "history")]));
    } else if (catchUp.length > 0 && position !== null) {
      url.searchParams.set("last_event_id", `${position.epoch}-0`);
      if (this.skipEpoch !== position.epoch) this.forgetSkips();
      this.skipEpoch = position.epoch;
      /** @type {Map<Subscription, Set<string>>} */
      const catching = new Map();
      for (const [sub, ch] of catchUp) catching.set(sub, (catching.get(sub) ?? new Set()).add(ch));
      for (const sub of this.subs) {
        for (const channel of sub.channels) {
          if (catching.get(sub)?.has(channel)) sub.skip.delete(channel);
          else sub.skip.set(channel, Math.max(sub.skip.get(channel) ?? -1, position.seq));
        }
      }
      for (const channel of wanted) {
        const log = this.logs.get(channel);
        if (log?.complete) log.skipUpTo = Math.max(log.skipUpTo, position.seq);
        else this.logs.set(channel, new ChannelLog(true)); // the replay fills it completely
      }
    } else {
      // catchUp without a parsable cursor cannot happen with this hub (ids are <epoch>-<seq>);
      // resuming exactly matters more than the newcomer's history.
      url.searchParams.set("last_event_id", this.cursor);
      for (const ch of wanted) if (!this.logs.has(ch)) this.logs.set(ch, new ChannelLog(false));
    }
    const source = new EventSourceImpl(url.href);
    this.source = source;
    this.onFrame = (event) => this.handle(source, event);
    for (const name of this.listening) source.addEventListener(name, this.onFrame);
    source.addEventListener("open", () => {
      if (source !== this.source) return;
      this.failures = 0;
      this.everLive = true;
      this.setStatus("live");
    });
    source.addEventListener("error", () => this.handleError(source));
  }

  /** @param {import("./subscription.js").StreamStatus} status */
  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    for (const sub of [...this.subs]) if (sub.active) call(sub.onStatus, status);
  }

  /** @param {any} source */
  handleError(source) {
    if (source !== this.source) return;
    if (source.readyState !== CLOSED) {
      this.setStatus(this.everLive ? "retrying" : "connecting"); // the browser retries
      return;
    }
    this.setStatus(this.everLive ? "retrying" : "unreachable");
    this.closeSource();
    this.failures += 1;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.failures - 1));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.closed) this.open();
    }, delay);
  }

  /**
   * @param {any} source
   * @param {MessageEvent} event
   */
  handle(source, event) {
    if (source !== this.source) return; // a stream we already replaced
    if (this.status !== "live") {
      this.everLive = true; // a frame proves it is live, whatever came of the "open" event
      this.setStatus("live");
    }
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      console.warn("sse_widgets: ignored a frame whose data is not JSON", event.data);
      return;
    }
    if (typeof message?.channel !== "string") return; // not a multiplexed frame
    const id = event.lastEventId || "";
    if (id) this.cursor = id;
    const position = parseCursor(id);
    if (position !== null && this.skipEpoch !== null && position.epoch !== this.skipEpoch) {
      this.forgetSkips(); // the hub restarted: its resets rebuild everyone
    }
    const channel = message.channel;
    if (!this.streamChannels.has(channel)) return;
    /** @type {Frame} */
    const frame = {
      name: event.type,
      channel,
      payload: message.data,
      meta: { channel, id, time: message.time },
      seq: position === null ? Infinity : position.seq,
      size: event.data.length,
    };
    if (frame.name === "reset") this.handleReset(frame);
    else if (frame.name === "close") this.handleClose(frame);
    else {
      this.logs.get(channel)?.add(frame);
      for (const sub of [...this.subs]) {
        if (sub.active && sub.channels.has(channel)) sub.receive(frame);
      }
    }
  }

  /** @param {Frame} frame */
  handleReset(frame) {
    const { channel, seq } = frame;
    const reason = String(/** @type {any} */ (frame.payload)?.reason ?? "unknown");
    this.logs.get(channel)?.reset(seq);
    for (const sub of [...this.subs]) {
      if (!sub.active || !sub.channels.has(channel)) continue;
      sub.receiveReset(channel, reason, seq);
    }
  }

  /** @param {Frame} frame */
  handleClose(frame) {
    const { channel } = frame;
    const reason = String(/** @type {any} */ (frame.payload)?.reason ?? "deleted");
    this.logs.delete(channel);
    for (const sub of [...this.subs]) {
      if (!sub.active || !sub.channels.has(channel)) continue;
      sub.channels.delete(channel);
      sub.skip.delete(channel);
      sub.pending.delete(channel);
      call(sub.onClose, channel, reason);
    }
    this.schedule(); // drop the channel from the stream (or close it if none is left)
  }

  /** @param {[Subscription, string][]} pairs */
  serveLogs(pairs) {
    /** @type {Map<Subscription, Frame[]>} */
    const bySub = new Map();
    for (const [sub, channel] of pairs) {
      bySub.set(sub, [...(bySub.get(sub) ?? []), ...(this.logs.get(channel)?.frames ?? [])]);
    }
    for (const [sub, frames] of bySub) {
      frames.sort((a, b) => a.seq - b.seq); // stable: each channel's order is kept
      for (const frame of frames) if (sub.active) sub.emit(frame);
    }
  }

  forgetSkips() {
    for (const sub of this.subs) {
      sub.skip.clear();
      sub.pending.clear();
    }
    for (const log of this.logs.values()) {
      log.skipUpTo = -1;
      log.pending = null;
    }
    this.skipEpoch = null;
  }

  closeSource() {
    if (this.source) this.source.close();
    this.source = null;
  }

  teardown() {
    this.closed = true;
    for (const sub of this.subs) sub.active = false;
    this.subs.clear();
    clearTimeout(this.retryTimer ?? undefined);
    this.retryTimer = null;
    this.closeSource();
    this.logs.clear();
    if (connections.get(this.key) === this) connections.delete(this.key);
  }
}

/** @param {Set<string>} a @param {Set<string>} b */
function sameSet(a, b) {
  if (a.size !== b.size) return false;
  for (const item of a) if (!b.has(item)) return false;
  return true;
}
