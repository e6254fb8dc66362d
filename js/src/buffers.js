// Bounded buffers for widgets, so memory stays flat however long a producer runs.
//
// - RingBuffer: the last `capacity` items (log lines, text chunks); O(1) push, oldest dropped.
// - RollingWindow: columnar chart data (one x array, one y array per series) in the shape uPlot
//   draws directly (`[x, y1, y2, ...]`), holding the last `capacity` rows.
//
// Pure data structures: no DOM, no timers, no knowledge of the wire format.

/**
 * The last `capacity` items pushed, oldest first.
 *
 * @template T
 * @example
 *   const lines = new RingBuffer(3);
 *   for (const n of [1, 2, 3, 4]) lines.push(n);
 *   lines.toArray(); // [2, 3, 4]
 */
export class RingBuffer {
  /** @param {number} capacity most items kept (a positive integer) */
  constructor(capacity) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`RingBuffer capacity must be a positive integer, not ${capacity}`);
    }
    /** @readonly */
    this.capacity = capacity;
    /** @type {(T | undefined)[]} */
    this._items = new Array(capacity);
    this._start = 0; // index of the oldest item
    this._size = 0;
  }

  /** Number of items held. */
  get size() {
    return this._size;
  }

  /**
   * Append an item, dropping the oldest when full.
   * @param {T} item
   * @returns {T | undefined} the item dropped to make room, if any
   */
  push(item) {
    if (this._size < this.capacity) {
      this._items[(this._start + this._size) % this.capacity] = item;
      this._size += 1;
      return undefined;
    }
    const dropped = this._items[this._start];
    this._items[this._start] = item;
    this._start = (this._start + 1) % this.capacity;
    return dropped;
  }

  /** @returns {T[]} the items, oldest first (a copy) */
  toArray() {
    /** @type {T[]} */
    const out = new Array(this._size);
    for (let i = 0; i < this._size; i += 1) {
      out[i] = /** @type {T} */ (this._items[(this._start + i) % this.capacity]);
    }
    return out;
  }

  /**
   * The items that pass `predicate`, oldest first (e.g. log lines at WARNING or above).
   * @param {(item: T) => boolean} predicate
   * @returns {T[]}
   */
  filter(predicate) {
    /** @type {T[]} */
    const out = [];
    for (let i = 0; i < this._size; i += 1) {
      const item = /** @type {T} */ (this._items[(this._start + i) % this.capacity]);
      if (predicate(item)) out.push(item);
    }
    return out;
  }

  /** Drop every item (e.g. on a channel `reset`). */
  clear() {
    this._items = new Array(this.capacity); // release references, not just the count
    this._start = 0;
    this._size = 0;
  }
}

/**
 * The last `capacity` rows of columnar chart data: `x` plus one `y` column per series.
 *
 * A series that first appears late is back-filled with `null` (uPlot draws a gap), and a
 * batch that lacks a known series gets `null` for it, so every column always has the length of
 * `x`. Wire `null` (NaN or infinity on the producer side) is kept as a gap.
 *
 * @example
 *   const win = new RollingWindow(1000);
 *   win.append([1, 2], { loss: [0.5, 0.4] });  // the columnar `point` event
 *   win.appendPoint("acc", 3, 0.8);            // the single-point form
 *   win.data(); // [[1, 2, 3], [0.5, 0.4, null], [null, null, 0.8]]
 */
export class RollingWindow {
  /** @param {number} capacity most rows kept (a positive integer) */
  constructor(capacity) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`RollingWindow capacity must be a positive integer, not ${capacity}`);
    }
    /** @readonly */
    this.capacity = capacity;
    /** @type {number[]} */
    this.x = [];
    /** @type {Map<string, (number | null)[]>} series name -> column, in order of appearance */
    this.columns = new Map();
  }

  /** Number of rows held. */
  get length() {
    return this.x.length;
  }

  /** @returns {string[]} series names in column order */
  series() {
    return [...this.columns.keys()];
  }

  /**
   * Append a batch of rows; drop the oldest rows past the capacity.
   *
   * A `y` column shorter than `xs` is padded with `null` and a longer one is cut: a malformed
   * event must not leave the columns misaligned for every later frame.
   *
   * @param {number[]} xs
   * @param {Record<string, (number | null)[]>} ys series name -> values, one per x
   */
  append(xs, ys) {
    const n = xs.length;
    if (n === 0) return;
    const before = this.x.length;
    for (const name of Object.keys(ys)) {
      if (!this.columns.has(name)) this.columns.set(name, new Array(before).fill(null));
    }
    for (let i = 0; i < n; i += 1) this.x.push(xs[i]);
    for (const [name, column] of this.columns) {
      const values = ys[name];
      for (let i = 0; i < n; i += 1) {
        const v = values === undefined ? null : values[i];
        column.push(v === undefined ? null : v);
      }
    }
    this._trim();
  }

  /**
   * Append one row with a value for one series (the `{"series", "x", "y"}` event).
   * @param {string} series
   * @param {number} x
   * @param {number | null} y
   */
  appendPoint(series, x, y) {
    this.append([x], { [series]: [y] });
  }

  /**
   * The window as uPlot's aligned data `[x, ...y columns in series() order]`.
   * These are the live arrays (no copy, so a frame costs nothing): read them, don't keep them
   * past the next append.
   * @returns {[number[], ...(number | null)[][]]}
   */
  data() {
    return [this.x, ...this.columns.values()];
  }

  /** Drop every row and series (e.g. on a channel `reset`). */
  clear() {
    this.x = [];
    this.columns = new Map();
  }

  _trim() {
    const excess = this.x.length - this.capacity;
    if (excess <= 0) return;
    // One splice per batch, not per row: a batch of thousands of points costs one move.
    this.x.splice(0, excess);
    for (const column of this.columns.values()) column.splice(0, excess);
  }
}
