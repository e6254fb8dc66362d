import { describe, expect, it } from "vitest";
import { RingBuffer, RollingWindow } from "./buffers.js";
import { ChannelLog } from "./channel-log.js";

describe("RingBuffer", () => {
  it("keeps the last `capacity` items, oldest first", () => {
    const ring = new RingBuffer(3);
    expect(ring.toArray()).toEqual([]);
    expect(ring.push(1)).toBeUndefined();
    ring.push(2);
    ring.push(3);
    expect(ring.push(4)).toBe(1); // the dropped item
    ring.push(5);
    expect(ring.size).toBe(3);
    expect(ring.toArray()).toEqual([3, 4, 5]);
  });

  it("wraps around many times without losing order", () => {
    const ring = new RingBuffer(4);
    for (let i = 0; i < 103; i += 1) ring.push(i);
    expect(ring.toArray()).toEqual([99, 100, 101, 102]);
  });

  it("filters in order", () => {
    const ring = new RingBuffer(4);
    for (const level of ["INFO", "ERROR", "DEBUG", "WARNING", "ERROR"]) ring.push({ level });
    // capacity 4: the first INFO is gone
    expect(ring.filter((r) => r.level === "ERROR" || r.level === "WARNING")).toEqual([
      { level: "ERROR" },
      { level: "WARNING" },
      { level: "ERROR" },
    ]);
  });

  it("clears, and is usable again", () => {
    const ring = new RingBuffer(2);
    ring.push("a");
    ring.push("b");
    ring.clear();
    expect(ring.size).toBe(0);
    ring.push("c");
    expect(ring.toArray()).toEqual(["c"]);
  });

  it("returns a copy", () => {
    const ring = new RingBuffer(2);
    ring.push(1);
    ring.toArray().push(99);
    expect(ring.toArray()).toEqual([1]);
  });

  it.each([0, -1, 1.5, NaN])("refuses capacity %s", (capacity) => {
    expect(() => new RingBuffer(capacity)).toThrow(RangeError);
  });
});

describe("RollingWindow", () => {
  it("appends columnar batches in uPlot's aligned shape", () => {
    const win = new RollingWindow(10);
    win.append([1, 2], { loss: [0.5, 0.4], acc: [0.1, 0.2] });
    win.append([3], { loss: [0.3], acc: [0.3] });
    expect(win.length).toBe(3);
    expect(win.series()).toEqual(["loss", "acc"]);
    expect(win.data()).toEqual([
      [1, 2, 3],
      [0.5, 0.4, 0.3],
      [0.1, 0.2, 0.3],
    ]);
  });

  it("drops the oldest rows past the capacity, in every column", () => {
    const win = new RollingWindow(3);
    win.append([1, 2], { y: [10, 20] });
    win.append([3, 4, 5, 6], { y: [30, 40, 50, 60] });
    expect(win.data()).toEqual([
      [4, 5, 6],
      [40, 50, 60],
    ]);
  });

  it("back-fills a late series and fills a missing one with null (gaps)", () => {
    const win = new RollingWindow(10);
    win.append([1], { loss: [0.5] });
    win.appendPoint("acc", 2, 0.8);
    expect(win.data()).toEqual([
      [1, 2],
      [0.5, null],
      [null, 0.8],
    ]);
  });

  it("keeps wire nulls and aligns ragged columns to x", () => {
    const win = new RollingWindow(10);
    win.append([1, 2, 3], { short: [1], long: [1, null, 3, 4] });
    expect(win.data()).toEqual([
      [1, 2, 3],
      [1, null, null],
      [1, null, 3],
    ]);
  });

  it("ignores an empty batch and clears", () => {
    const win = new RollingWindow(2);
    win.append([], { y: [] });
    expect(win.series()).toEqual([]);
    win.append([1], { y: [1] });
    win.clear();
    expect(win.length).toBe(0);
    expect(win.data()).toEqual([[]]);
  });

  it("refuses a capacity that is not a positive integer", () => {
    expect(() => new RollingWindow(0)).toThrow(RangeError);
  });
});

describe("ChannelLog", () => {
  const frame = (/** @type {number} */ seq, size = 10) => ({
    name: "log",
    channel: "a",
    payload: {},
    meta: { channel: "a", id: `e-${seq}`, time: 0 },
    seq,
    size,
  });

  it("keeps nothing when it does not start complete", () => {
    const log = new ChannelLog(false);
    log.add(frame(1));
    expect(log.frames).toEqual([]);
  });

  it("gives up (and frees memory) past its event or size bound", () => {
    const log = new ChannelLog(true, { events: 2, chars: 100 });
    log.add(frame(1));
    log.add(frame(2));
    expect(log.complete).toBe(true);
    log.add(frame(3));
    expect(log.complete).toBe(false);
    expect(log.frames).toEqual([]);
    const big = new ChannelLog(true, { events: 10, chars: 15 });
    big.add(frame(1, 10));
    big.add(frame(2, 10));
    expect(big.complete).toBe(false);
  });

  it("skips frames it already holds when a catch-up replays them", () => {
    const log = new ChannelLog(true);
    log.add(frame(1));
    log.skipUpTo = 1;
    log.add(frame(1));
    log.add(frame(2));
    expect(log.frames.map((f) => f.seq)).toEqual([1, 2]);
  });
});
