// Shared by the view tests (src/views/*.test.js, happy-dom): animation frames the test runs
// by hand, a mounted view, a recording host, and the checks every view must pass.
//
// Frames: ../src/frames.js remembers that it asked for a frame; a test that left a frame
// unrun would leave the next test's renders waiting forever, so `useFrames` runs whatever is
// still due after each test.

import { afterEach, beforeEach, vi } from "vitest";

/**
 * Replace requestAnimationFrame with a queue the test runs with `nextFrame()`.
 * Call at the top of a describe block (it registers beforeEach / afterEach).
 * @returns {{nextFrame: () => void, pending: () => number}}
 */
export function useFrames() {
  /** @type {FrameRequestCallback[]} */
  let frames = [];
  const nextFrame = () => {
    const due = frames;
    frames = [];
    for (const cb of due) cb(performance.now());
  };
  beforeEach(() => {
    frames = [];
    vi.stubGlobal("requestAnimationFrame", (/** @type {FrameRequestCallback} */ cb) => {
      frames.push(cb);
      return frames.length;
    });
  });
  afterEach(() => {
    for (let i = 0; i < 5 && frames.length; i += 1) nextFrame();
    vi.unstubAllGlobals();
    document.body.replaceChildren();
  });
  return { nextFrame, pending: () => frames.length };
}

/**
 * A host whose control() resolves, or rejects with `reject` when given.
 * @param {{reject?: string}} [how]
 */
export function fakeHost(how = {}) {
  const control = vi.fn(async (/** @type {string} */ _channel, /** @type {any} */ _message) => {
    if (how.reject) throw new Error(how.reject);
  });
  return { control };
}

/**
 * Mount a view into a fresh container in the document.
 * @template {import("../src/views/types.js").View} V
 * @param {(el: HTMLElement, options: Record<string, any>, host: any) => V} factory
 * @param {Record<string, any>} options
 * @param {any} [host]
 */
export function mount(factory, options, host = fakeHost()) {
  const el = document.createElement("div");
  document.body.appendChild(el);
  const view = factory(el, options, host);
  const root = /** @type {HTMLElement} */ (el.firstElementChild);
  return { el, view, root, host };
}

let nextId = 0;

/**
 * The meta of one event on `channel`.
 * @param {string} [channel]
 * @param {number} [time] unix seconds
 */
export function meta(channel = "c", time = 1_700_000_000) {
  nextId += 1;
  return { channel, id: `e-${nextId}`, time };
}

/** The XSS probe every view must show as text. */
export const XSS = `<img src=x onerror="window.__xss = 1">`;

/** Let promise callbacks (a rejected control()) run. */
export async function settle() {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
}

/**
 * Make a scroll container measurable in happy-dom (which lays nothing out): fixed heights and
 * a scrollTop the test sets, then a `scroll` event as the browser would send.
 * @param {HTMLElement} scroller
 * @param {{scrollHeight: number, clientHeight: number}} size
 */
export function fakeScroll(scroller, size) {
  Object.defineProperty(scroller, "scrollHeight", { configurable: true, get: () => size.scrollHeight });
  Object.defineProperty(scroller, "clientHeight", { configurable: true, get: () => size.clientHeight });
  // A browser clamps scrollTop to the scrollable range; happy-dom keeps whatever is set.
  let top = 0;
  Object.defineProperty(scroller, "scrollTop", {
    configurable: true,
    get: () => Math.min(top, Math.max(0, size.scrollHeight - size.clientHeight)),
    set: (value) => {
      top = Math.max(0, Math.min(Number(value), size.scrollHeight - size.clientHeight));
    },
  });
  return {
    /** @param {number} top */
    userScrollTo(top) {
      scroller.scrollTop = top;
      scroller.dispatchEvent(new Event("scroll"));
    },
  };
}
