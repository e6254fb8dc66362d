import { describe, expect, it } from "vitest";
import { ChartData, MergingWindow, lowerBound, parsePoint } from "./chart-data.js";

/** Deep-freeze a payload: a view that writes to it throws in strict mode. */
function frozen(/** @type {any} */ value) {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) frozen(v);
    Object.freeze(value);
  }
  return value;
}

describe("parsePoint", () => {
  it("reads the single-point form as one row", () => {
    const got = parsePoint({ series: "loss", x: 3, y: 0.5 });
    expect(got?.points).toBe(1);
    expect(got?.batch.xs).toEqual([3]);
    expect(got?.batch.columns).toEqual([["loss", [0.5]]]);
  });

  it("reads the columnar form and counts every y value paired with an x, nulls included", () => {
    const got = parsePoint({ x: [1, 2, 3], y: { a: [1, null, 3], b: [4, 5, 6] } });
    expect(got?.points).toBe(6);
    expect(got?.batch.columns.map(([name]) => name)).toEqual(["a", "b"]);
  });

  it("counts only values that have an x when a column is longer than x", () => {
    expect(parsePoint({ x: [1], y: { a: [1, 2, 3] } })?.points).toBe(1);
  });

  it.each([
    ["null", null],
    ["a string", "x"],
    ["no y", { x: [1] }],
    ["y as an array", { x: [1], y: [1] }],
    ["x not an array", { x: 1, y: { a: [1] } }],
    ["single point with array x", { series: "a", x: [1], y: 1 }],
  ])("rejects %s", (_label, payload) => {
    expect(parsePoint(payload)).toBeNull();
  });

  it("does not copy the payload's arrays", () => {
    const payload = { x: [1, 2], y: { a: [3, 4] } };
    const got = parsePoint(payload);
    expect(got?.batch.xs).toBe(payload.x);
    expect(got?.batch.columns[0][1]).toBe(payload.y.a);
  });
});

describe("lowerBound", () => {
  it.each([
    [[], 5, 0],
    [[1, 3, 5], 0, 0],
    [[1, 3, 5], 3, 1],
    [[1, 3, 5], 4, 2],
    [[1, 3, 5], 9, 3],
  ])("lowerBound(%j, %d) = %d", (xs, x, want) => {
    expect(lowerBound(xs, x)).toBe(want);
  });
});

describe("MergingWindow.merge", () => {
  /** @param {number[]} xs @param {Record<string, any[]>} y */
  const batch = (xs, y) => ({ xs, columns: Object.entries(y) });

  it("appends rows past the last x", () => {
    const win = new MergingWindow(10);
    win.merge([batch([1, 2], { loss: [0.5, 0.4] })]);
    win.merge([batch([3], { loss: [0.3] })]);
    expect(win.data()).toEqual([[1, 2, 3], [0.5, 0.4, 0.3]]);
  });

  it("aligns a series sent later for the same x into the same rows (one event per series)", () => {
    const win = new MergingWindow(10);
    win.merge([batch([1, 2, 3], { loss: [0.5, 0.4, 0.3] })]);
    win.merge([batch([1, 2, 3], { acc: [0.7, 0.8, 0.9] })]);
    expect(win.x).toEqual([1, 2, 3]);
    expect(win.series()).toEqual(["loss", "acc"]);
    expect(win.columns.get("acc")).toEqual([0.7, 0.8, 0.9]);
  });

  it("merges different x sets: a series without a value at an x holds undefined there", () => {
    const win = new MergingWindow(10);
    win.merge([batch([1, 3, 5], { a: [1, 3, 5] }), batch([2, 3, 4], { b: [20, 30, 40] })]);
    expect(win.x).toEqual([1, 2, 3, 4, 5]);
    const [, a, b] = win.data();
    expect(a).toEqual([1, undefined, 3, undefined, 5]);
    expect(b).toEqual([undefined, 20, 30, 40, undefined]);
    expect(1 in a).toBe(true); // dense: no holes
  });

  it("interleaves single points of two series at the same x into one row each", () => {
    const win = new MergingWindow(10);
    const batches = [];
    for (let x = 1; x <= 3; x += 1) {
      batches.push(batch([x], { loss: [x] }), batch([x], { acc: [10 * x] }));
    }
    win.merge(batches);
    expect(win.data()).toEqual([[1, 2, 3], [1, 2, 3], [10, 20, 30]]);
  });

  it("keeps null, NaN and infinities as null gaps, apart from undefined (no value)", () => {
    const win = new MergingWindow(10);
    win.merge([batch([1, 2, 3, 4], { a: [1, null, NaN, Infinity] }), batch([5], { b: [5] })]);
    expect(win.columns.get("a")).toEqual([1, null, null, null, undefined]);
    expect(win.columns.get("b")).toEqual([undefined, undefined, undefined, undefined, 5]);
  });

  it("pads a column shorter than x with no value, not a gap", () => {
    const win = new MergingWindow(10);
    win.merge([batch([1, 2, 3], { a: [1] })]);
    expect(win.x).toEqual([1, 2, 3]);
    expect(win.columns.get("a")).toEqual([1, undefined, undefined]);
  });

  it("sorts out-of-order x and lets the later value for the same series and x win", () => {
    const win = new MergingWindow(10);
    win.merge([batch([5, 6], { a: [5, 6] })]);
    win.merge([batch([3, 1, 6], { a: [3, 1, 60] }), batch([6], { a: [66] })]);
    expect(win.data()).toEqual([[1, 3, 5, 6], [1, 3, 5, 66]]);
  });

  it("skips rows whose x is not a finite number", () => {
    const win = new MergingWindow(10);
    win.merge([batch([1, null, NaN, "4", 5], { a: [1, 2, 3, 4, 5] })]);
    expect(win.data()).toEqual([[1, 5], [1, 5]]);
  });

  it("keeps the last `capacity` x positions, dropping the oldest", () => {
    const win = new MergingWindow(3);
    win.merge([batch([1, 2, 3, 4], { a: [1, 2, 3, 4] })]);
    win.merge([batch([5], { b: [50] })]);
    expect(win.data()).toEqual([
      [3, 4, 5],
      [3, 4, undefined],
      [undefined, undefined, 50],
    ]);
  });

  it("drops filtered-out series without making rows for them", () => {
    const win = new MergingWindow(10);
    win.merge([batch([1, 2], { a: [1, 2], b: [3, 4] }), batch([3], { b: [5] })], (n) => n === "a");
    expect(win.series()).toEqual(["a"]);
    expect(win.x).toEqual([1, 2]);
  });

  it("never writes to the batches' arrays", () => {
    const win = new MergingWindow(2);
    const first = frozen({ xs: [3, 1, 2], columns: [["a", [3, 1, 2]]] });
    const second = frozen({ xs: [2, 4], columns: [["a", [20, 40]], ["b", [1, 2]]] });
    expect(() => win.merge([first, second])).not.toThrow();
    expect(win.data()).toEqual([[3, 4], [3, 40], [undefined, 2]]);
  });

  it("costs rows queued plus the overlapped tail, not the whole window, per merge", () => {
    const win = new MergingWindow(100_000);
    const xs = Array.from({ length: 100_000 }, (_, i) => i);
    win.merge([batch(xs, { a: xs })]);
    const started = performance.now();
    for (let k = 0; k < 2000; k += 1) win.merge([batch([100_000 + k], { a: [k] })]);
    // 2000 merges into a full 100k window; only the trim is O(window) (one splice per merge).
    expect(performance.now() - started).toBeLessThan(2000);
    expect(win.x[win.x.length - 1]).toBe(101_999);
    expect(win.length).toBe(100_000);
  });
});

describe("MergingWindow helpers", () => {
  it("detach() leaves the old arrays untouched by later merges", () => {
    const win = new MergingWindow(3);
    win.merge([{ xs: [1, 2], columns: [["a", [1, 2]]] }]);
    const shown = win.data();
    win.detach();
    win.merge([{ xs: [3, 4], columns: [["a", [3, 4]]] }]);
    expect(shown).toEqual([[1, 2], [1, 2]]);
    expect(win.data()).toEqual([[2, 3, 4], [2, 3, 4]]);
  });

  it("keepSeries() drops the other series and the rows only they had", () => {
    const win = new MergingWindow(10);
    win.merge([
      { xs: [1, 3], columns: [["a", [1, 3]]] },
      { xs: [1, 2, 3], columns: [["b", [4, 5, 6]]] },
    ]);
    win.keepSeries((name) => name === "a");
    expect(win.data()).toEqual([[1, 3], [1, 3]]);
  });

  it("latest() is the newest value the series holds, a gap as null", () => {
    const win = new MergingWindow(10);
    win.merge([{ xs: [1, 2], columns: [["a", [1, null]]] }, { xs: [3], columns: [["b", [7]]] }]);
    expect(win.latest("a")).toBeNull();
    expect(win.latest("b")).toBe(7);
    expect(win.latest("nope")).toBeUndefined();
  });
});

describe("ChartData", () => {
  it("queues payloads until flush() and counts their points", () => {
    const data = new ChartData({ capacity: 100 });
    expect(data.take({ series: "loss", x: 1, y: 0.5 })).toBe(1);
    expect(data.take({ x: [2, 3], y: { loss: [0.4, 0.3], acc: [0.1, 0.2] } })).toBe(4);
    expect(data.take({ nonsense: true })).toBeNull();
    expect(data.window.length).toBe(0);
    expect(data.flush()).toBe(true);
    expect(data.window.data()).toEqual([
      [1, 2, 3],
      [0.5, 0.4, 0.3],
      [undefined, 0.1, 0.2],
    ]);
    expect(data.flush()).toBe(false);
  });

  it("bounds the queue: a full window's worth of rows is merged at once", () => {
    const data = new ChartData({ capacity: 50 });
    for (let x = 0; x < 1000; x += 1) data.take({ series: "a", x, y: x });
    expect(data.pendingRows).toBeLessThan(50);
    expect(data.window.length).toBeLessThanOrEqual(50);
    data.flush();
    expect(data.window.x[0]).toBe(950);
  });

  it("filters series, and a new filter drops what it no longer wants", () => {
    const data = new ChartData({ capacity: 10, series: ["a", "b"] });
    data.take({ x: [1, 2], y: { a: [1, 2], b: [3, 4], c: [5, 6] } });
    data.flush();
    expect(data.window.series()).toEqual(["a", "b"]);
    data.setSeries(["b"]);
    expect(data.window.data()).toEqual([[1, 2], [3, 4]]);
    data.setSeries([]); // empty: every series from now on
    data.take({ x: [3], y: { c: [7] } });
    data.flush();
    expect(data.window.series()).toEqual(["b", "c"]);
  });

  it("setCapacity keeps the newest rows", () => {
    const data = new ChartData({ capacity: 10 });
    data.take({ x: [1, 2, 3, 4], y: { a: [1, 2, 3, 4] } });
    data.flush();
    data.setCapacity(2);
    expect(data.window.data()).toEqual([[3, 4], [3, 4]]);
    data.take({ x: [5], y: { a: [5] } });
    data.flush();
    expect(data.window.x).toEqual([4, 5]);
  });

  it("clear() drops rows, series and the queue", () => {
    const data = new ChartData({ capacity: 10 });
    data.take({ x: [1], y: { a: [1] } });
    data.flush();
    data.take({ x: [2], y: { a: [2] } });
    data.clear();
    data.flush();
    expect(data.window.data()).toEqual([[]]);
  });

  it("isTime() when every x held looks like unix seconds", () => {
    const data = new ChartData({ capacity: 2 });
    expect(data.isTime()).toBe(false);
    data.take({ x: [5, 1.7e9], y: { a: [1, 2] } });
    data.flush();
    expect(data.isTime()).toBe(false);
    data.take({ x: [1.7e9 + 1], y: { a: [3] } });
    data.flush(); // the step 5 fell out of the window
    expect(data.isTime()).toBe(true);
  });
});
