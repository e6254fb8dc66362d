import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { scheduleRender, throttledRender } from "./frames.js";

describe("scheduleRender with requestAnimationFrame", () => {
  /** @type {FrameRequestCallback[]} */
  let frames;

  beforeEach(() => {
    frames = [];
    vi.stubGlobal("requestAnimationFrame", (/** @type {FrameRequestCallback} */ cb) => {
      frames.push(cb);
      return frames.length;
    });
  });

  afterEach(() => {
    vi.unstubAllGlobals();
  });

  /** Run the animation frame the browser would run next. */
  function nextFrame() {
    const due = frames;
    frames = [];
    for (const cb of due) cb(performance.now());
  }

  it("coalesces many calls into one animation frame and one render", () => {
    const draw = vi.fn();
    for (let i = 0; i < 1000; i += 1) scheduleRender(draw);
    expect(frames).toHaveLength(1);
    expect(draw).not.toHaveBeenCalled();
    nextFrame();
    expect(draw).toHaveBeenCalledOnce();
  });

  it("runs each distinct render once per frame, sharing the frame", () => {
    const a = vi.fn();
    const b = vi.fn();
    scheduleRender(a);
    scheduleRender(b);
    scheduleRender(a);
    expect(frames).toHaveLength(1);
    nextFrame();
    expect(a).toHaveBeenCalledOnce();
    expect(b).toHaveBeenCalledOnce();
  });

  it("puts a render scheduled during a frame into the next frame", () => {
    let runs = 0;
    const draw = () => {
      runs += 1;
      if (runs === 1) scheduleRender(draw);
    };
    scheduleRender(draw);
    nextFrame();
    expect(runs).toBe(1);
    expect(frames).toHaveLength(1);
    nextFrame();
    expect(runs).toBe(2);
  });

  it("cancels a render that has not run yet", () => {
    const draw = vi.fn();
    const cancel = scheduleRender(draw);
    cancel();
    nextFrame();
    expect(draw).not.toHaveBeenCalled();
  });

  it("keeps drawing the others when one render throws", () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const ok = vi.fn();
    scheduleRender(() => {
      throw new Error("broken widget");
    });
    scheduleRender(ok);
    nextFrame();
    expect(ok).toHaveBeenCalledOnce();
    expect(error).toHaveBeenCalledOnce();
    error.mockRestore();
  });
});

describe("scheduleRender without requestAnimationFrame", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("falls back to one 16 ms timer", () => {
    vi.useFakeTimers();
    vi.stubGlobal("requestAnimationFrame", undefined);
    const draw = vi.fn();
    scheduleRender(draw);
    scheduleRender(draw);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(15);
    expect(draw).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(draw).toHaveBeenCalledOnce();
  });
});

describe("throttledRender", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("draws at the next frame, and no sooner than the gap after the previous draw", () => {
    vi.useFakeTimers();
    vi.stubGlobal("requestAnimationFrame", undefined); // frames fall back to a 16 ms timer
    const draw = vi.fn();
    const render = throttledRender(draw);
    render.schedule(50);
    vi.advanceTimersByTime(16);
    expect(draw).toHaveBeenCalledTimes(1); // nothing drawn before: no wait
    render.schedule(50);
    render.schedule(50); // coalesced with the pending one
    vi.advanceTimersByTime(40);
    expect(draw).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(40);
    expect(draw).toHaveBeenCalledTimes(2);
    render.schedule(0); // no gap asked: next frame
    vi.advanceTimersByTime(16);
    expect(draw).toHaveBeenCalledTimes(3);
    render.schedule(50);
    render.cancel();
    vi.advanceTimersByTime(200);
    expect(draw).toHaveBeenCalledTimes(3);
  });
});
