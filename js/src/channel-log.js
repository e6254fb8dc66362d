// The connection's copy of one channel's history, so a widget created late on a channel the
// page already streams gets that channel's history locally, without touching the shared stream
// (see "History for late subscribers" in connection.js).
//
// A log is only worth anything when it is *complete*: it holds everything a `replay=history`
// request would return now (it started with such a replay, or a reset that the server follows
// with snapshot + history) and has dropped nothing since. When it would exceed its bounds it
// empties itself and stays incomplete, so memory is never spent on a copy that cannot be used.
//
// Must not: decide routing, parse the wire format, or hold anything once incomplete.

/**
 * @typedef {object} Frame one event as the connection routes it
 * @property {string} name event name
 * @property {string} channel
 * @property {unknown} payload the event's `data`
 * @property {{channel: string, id: string, time: number}} meta
 * @property {number} seq the cursor's sequence number (Infinity when the id has none)
 * @property {number} size characters of the frame's data, for the memory bound
 */

/** Bounds per channel; the hub keeps 1000 events per channel by default, as many as here. */
export const LOG_LIMITS = Object.freeze({ events: 1000, chars: 8_000_000 });

export class ChannelLog {
  /**
   * @param {boolean} complete whether the stream starts this channel with its whole history
   * @param {{events: number, chars: number}} [limits]
   */
  constructor(complete, limits = LOG_LIMITS) {
    this.limits = limits;
    this.complete = complete;
    /** Frames up to this seq are already here (set when a catch-up replays them again). */
    this.skipUpTo = -1;
    /** @type {{seq: number, held: Frame[]} | null} a reset inside the replayed part */
    this.pending = null;
    /** @type {Frame[]} */
    this.frames = [];
    this.chars = 0;
  }

  /** @param {Frame} frame */
  add(frame) {
    if (!this.complete) return;
    const pending = this.pending;
    if (pending !== null) {
      // Same rule as Subscription.receive: the channel's next frame settles the reset.
      if (frame.seq <= pending.seq) {
        pending.held.push(frame);
        return;
      }
      this.pending = null;
      if (frame.seq <= this.skipUpTo) return; // history reaches back past our copy: intact
      this.restart();
      for (const held of pending.held) this.push(held);
    } else if (frame.seq <= this.skipUpTo) {
      return;
    }
    this.push(frame);
  }

  /**
   * The hub sent a `reset` for this channel. On the live part it follows with snapshot +
   * history, which makes the copy complete again; inside a replayed part (seq at or below
   * skipUpTo) it is undecided until the channel's next frame, as for a subscription.
   * @param {number} seq
   */
  reset(seq) {
    if (seq > this.skipUpTo) this.restart();
    else if (this.complete) this.pending = { seq, held: [] };
  }

  /** @param {Frame} frame */
  push(frame) {
    this.frames.push(frame);
    this.chars += frame.size;
    if (this.frames.length > this.limits.events || this.chars > this.limits.chars) {
      this.invalidate();
    }
  }

  /** Start over, complete, from what follows (a live reset). */
  restart() {
    this.complete = true;
    this.skipUpTo = -1;
    this.pending = null;
    this.frames = [];
    this.chars = 0;
  }

  /** Something may be missing: stop keeping a copy that could mislead a late subscriber. */
  invalidate() {
    this.complete = false;
    this.pending = null;
    this.frames = [];
    this.chars = 0;
  }
}
