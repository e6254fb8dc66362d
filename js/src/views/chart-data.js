// The LiveChart's data: `point` payloads parsed, queued until the next frame, then merged by x
// into one bounded window of aligned columns (uPlot draws `[x, y1, y2, ...]` with one shared,
// ascending x array).
//
// Series arrive with different x sets (the publisher sends one columnar event per series, so
// `acc` at steps 1..100 follows `loss` at steps 1..100), so rows are merged by x, not appended.
// Two kinds of "no value" are kept apart, as uPlot draws them differently:
// - `null`: the producer sent null (NaN or infinity on its side): a gap in the line;
// - `undefined`: that series has no value at this x (only another series does): uPlot skips
//   it and joins the neighbours, so aligning series never breaks their lines.
//
// Cost: `take()` is O(points in the payload) and copies nothing; `flush()` (once a frame) is
// O(points queued + rows at or after the smallest queued x + one trim of the window). The queue
// is bounded: when it holds `capacity` rows it is flushed at once (a hidden tab or a paused chart
// does not grow it).
//
// Must not: touch the DOM, schedule frames, or mutate payloads (views share them).

import { RollingWindow } from "../buffers.js";

/**
 * One parsed `point` payload: x values and, per series, the values that go with them.
 * `columns` refers to the payload's own arrays (read, never written).
 * @typedef {object} PointBatch
 * @property {ArrayLike<any>} xs
 * @property {[string, ArrayLike<any>][]} columns
 */

/**
 * Read a `point` payload in either form, without copying it.
 *
 * @param {any} payload `{"series","x","y"}` or `{"x": [...], "y": {"loss": [...], ...}}`
 * @returns {{batch: PointBatch, points: number} | null} null when it is neither form;
 *   `points` counts every y value paired with an x (nulls included)
 * @example
 *   parsePoint({ series: "loss", x: 3, y: 0.5 }).points; // 1
 *   parsePoint({ x: [1, 2], y: { a: [1, 2], b: [3, 4] } }).points; // 4
 */
export function parsePoint(payload) {
  if (payload === null || typeof payload !== "object") return null;
  const { x, y } = payload;
  if (typeof payload.series === "string") {
    if (Array.isArray(x) || (y !== null && typeof y === "object")) return null;
    return { batch: { xs: [x], columns: [[payload.series, [y]]] }, points: 1 };
  }
  if (!Array.isArray(x) || y === null || typeof y !== "object" || Array.isArray(y)) return null;
  /** @type {[string, ArrayLike<any>][]} */
  const columns = [];
  let points = 0;
  for (const name of Object.keys(y)) {
    const values = y[name];
    if (!Array.isArray(values)) continue;
    columns.push([name, values]);
    points += Math.min(values.length, x.length);
  }
  return { batch: { xs: x, columns }, points };
}

/**
 * A y value as the chart keeps it: a finite number, or null (a gap) for anything else sent.
 * @param {any} value
 * @returns {number | null}
 */
function yValue(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * First index of sorted `xs` whose value is >= `x`.
 * @param {number[]} xs ascending
 * @param {number} x
 */
export function lowerBound(xs, x) {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A RollingWindow whose rows are merged by x: x stays strictly ascending, a value for an x
 * already held lands in that row, and a column with no value at some x holds `undefined`.
 *
 * @example
 *   const win = new MergingWindow(100);
 *   win.merge([{ xs: [1, 2], columns: [["loss", [0.5, 0.4]]] },
 *              { xs: [2], columns: [["acc", [0.8]]] }]);
 *   win.data(); // [[1, 2], [0.5, 0.4], [undefined, 0.8]]
 */
export class MergingWindow extends RollingWindow {
  /**
   * Merge batches (in arrival order: for one series and x, the later value wins), then drop
   * the oldest rows past the capacity.
   *
   * @param {PointBatch[]} batches
   * @param {(name: string) => boolean} [accept] which series to keep (default: all)
   * @returns {number} rows added or changed
   */
  merge(batches, accept = () => true) {
    // The queued rows, flattened: rx[k] = x, rb[k] = batch, ri[k] = index in the batch.
    /** @type {number[]} */ const rx = [];
    /** @type {number[]} */ const rb = [];
    /** @type {number[]} */ const ri = [];
    /** @type {[string, ArrayLike<any>][][]} */ const kept = [];
    let sorted = true;
    for (let b = 0; b < batches.length; b += 1) {
      const { xs, columns } = batches[b];
      kept.push(columns.filter(([name]) => accept(name)));
      if (kept[b].length === 0) continue;
      for (const [name] of kept[b]) {
        if (!this.columns.has(name)) {
          this.columns.set(name, new Array(this.x.length).fill(undefined));
        }
      }
      for (let i = 0; i < xs.length; i += 1) {
        const x = xs[i];
        if (typeof x !== "number" || !Number.isFinite(x)) continue; // no place on the axis
        if (rx.length > 0 && x < rx[rx.length - 1]) sorted = false;
        rx.push(x);
        rb.push(b);
        ri.push(i);
      }
    }
    const m = rx.length;
    if (m === 0) return 0;
    const order = Array.from({ length: m }, (_, k) => k);
    if (!sorted) order.sort((a, b) => rx[a] - rx[b]); // stable: arrival order kept within an x

    // Rebuild only the tail from the first row at or after the smallest queued x.
    const x = this.x;
    const names = [...this.columns.keys()];
    const cols = names.map((name) => /** @type {any[]} */ (this.columns.get(name)));
    const slot = new Map(names.map((name, c) => [name, c]));
    const p = lowerBound(x, rx[order[0]]);
    /** @type {number[]} */ const tailX = [];
    /** @type {any[][]} */ const tailCols = names.map(() => []);
    let i = p;
    let j = 0;
    while (i < x.length || j < m) {
      const fromWindow = j >= m || (i < x.length && x[i] <= rx[order[j]]);
      const at = fromWindow ? x[i] : rx[order[j]];
      const last = tailX.length - 1;
      const fresh = last < 0 || tailX[last] !== at;
      if (fresh) tailX.push(at);
      const row = tailX.length - 1;
      if (fromWindow) {
        for (let c = 0; c < cols.length; c += 1) tailCols[c][row] = cols[c][i];
        i += 1;
      } else {
        const k = order[j];
        if (fresh) for (let c = 0; c < cols.length; c += 1) tailCols[c][row] = undefined;
        for (const [name, values] of kept[rb[k]]) {
          if (ri[k] < values.length) tailCols[/** @type {number} */ (slot.get(name))][row] = yValue(values[ri[k]]);
        }
        j += 1;
      }
    }
    x.length = p;
    for (let r = 0; r < tailX.length; r += 1) x.push(tailX[r]);
    for (let c = 0; c < cols.length; c += 1) {
      const column = cols[c];
      const tail = tailCols[c];
      column.length = p;
      for (let r = 0; r < tailX.length; r += 1) column.push(tail[r]);
    }
    this._trim();
    return m;
  }

  /**
   * Stop sharing the current arrays: later merges write to copies, so whoever holds the old
   * ones (a paused plot) keeps a frozen picture. O(rows) once.
   */
  detach() {
    this.x = this.x.slice();
    for (const [name, column] of this.columns) this.columns.set(name, column.slice());
  }

  /**
   * Keep only the series `accept` takes, and the rows where one of them has a value.
   * @param {(name: string) => boolean} accept
   */
  keepSeries(accept) {
    for (const name of [...this.columns.keys()]) if (!accept(name)) this.columns.delete(name);
    const cols = [...this.columns.values()];
    let w = 0;
    for (let r = 0; r < this.x.length; r += 1) {
      if (!cols.some((column) => column[r] !== undefined)) continue;
      this.x[w] = this.x[r];
      for (const column of cols) column[w] = column[r];
      w += 1;
    }
    this.x.length = w;
    for (const column of cols) column.length = w;
  }

  /**
   * The newest value a series holds (null for a gap), skipping rows where it has none.
   * @param {string} name
   * @returns {number | null | undefined} undefined when the series has no rows
   */
  latest(name) {
    const column = this.columns.get(name);
    if (!column) return undefined;
    for (let r = column.length - 1; r >= 0; r -= 1) if (column[r] !== undefined) return column[r];
    return undefined;
  }
}

/**
 * What the chart view holds: a queue of parsed payloads and the merged window they go into.
 *
 * @example
 *   const data = new ChartData({ capacity: 2000, series: ["loss"] });
 *   data.take({ series: "loss", x: 1, y: 0.5 }); // 1 (points in the payload)
 *   data.flush();                                // once a frame
 *   data.window.data();                          // [[1], [0.5]]
 */
export class ChartData {
  /**
   * @param {{capacity: number, series?: string[] | null}} options `series`: names to keep
   *   (empty or null: every series seen)
   */
  constructor({ capacity, series = null }) {
    this.window = new MergingWindow(capacity);
    /** @type {PointBatch[]} */
    this.pending = [];
    this.pendingRows = 0;
    this.setSeries(series);
  }

  /**
   * Queue one `point` payload for the next flush.
   * @param {any} payload
   * @returns {number | null} points in the payload (before the series filter), or null when
   *   it is not a `point` payload (nothing queued)
   */
  take(payload) {
    const parsed = parsePoint(payload);
    if (parsed === null) return null;
    this.pending.push(parsed.batch);
    this.pendingRows += parsed.batch.xs.length;
    if (this.pendingRows >= this.window.capacity) this.flush(); // bound the queue
    return parsed.points;
  }

  /** Merge what is queued into the window. @returns {boolean} whether anything was queued */
  flush() {
    if (this.pending.length === 0) return false;
    const batches = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    this.window.merge(batches, this.accept);
    return true;
  }

  /** @param {string[] | null | undefined} names series to keep (empty or null: all) */
  setSeries(names) {
    const wanted = Array.isArray(names) && names.length > 0 ? new Set(names) : null;
    /** @type {(name: string) => boolean} */
    this.accept = wanted ? (name) => wanted.has(name) : () => true;
    this.window.keepSeries(this.accept);
  }

  /** @param {number} capacity rows kept (a positive integer); the newest rows stay */
  setCapacity(capacity) {
    if (capacity === this.window.capacity) return;
    const old = this.window;
    this.window = new MergingWindow(capacity);
    this.window.x = old.x;
    this.window.columns = old.columns;
    this.window._trim();
  }

  /** Drop everything held and queued (a channel `reset`). */
  clear() {
    this.pending = [];
    this.pendingRows = 0;
    this.window.clear();
  }

  /** @returns {boolean} whether every x held looks like unix seconds (a time axis) */
  isTime() {
    const x = this.window.x;
    return x.length > 0 && x[0] > 1e9; // x ascends: the first is the smallest
  }
}
