// Render scheduling: widgets draw at most once per animation frame, never once per event.
//
// Events can arrive by the thousand per second (a chart fed every 50 ms, a chatty logger);
// the browser paints ~60 times a second. A widget updates its state per event and calls
// `scheduleRender(draw)`; every call made before the next frame collapses into one `draw()`.
// All widgets of a bundle share one requestAnimationFrame callback per frame.
//
// Must not: know about events, channels or the DOM beyond requestAnimationFrame.

/** @type {Set<() => void>} renders due at the next frame, in the order first scheduled */
const due = new Set();
let requested = false;

/**
 * Run `fn` once at the next animation frame, however often it is scheduled before then.
 *
 * Falls back to a 16 ms timer where requestAnimationFrame is missing (tests, workers); a
 * hidden tab pauses requestAnimationFrame, which is what we want: no drawing nobody sees,
 * while the widget's bounded state keeps up.
 *
 * @param {() => void} fn the render function (schedule the same function object to coalesce)
 * @returns {() => void} cancels this render if it has not run yet (call it on widget cleanup)
 * @example
 *   model.on("change:value", () => scheduleRender(draw));
 */
export function scheduleRender(fn) {
  due.add(fn);
  if (!requested) {
    requested = true;
    const raf = globalThis.requestAnimationFrame;
    if (typeof raf === "function") raf.call(globalThis, flush);
    else setTimeout(flush, 16);
  }
  return () => {
    due.delete(fn);
  };
}

function flush() {
  requested = false;
  // Take the batch first: a render that schedules again lands in the next frame, not a loop.
  const batch = [...due];
  due.clear();
  for (const fn of batch) {
    try {
      fn();
    } catch (error) {
      // One broken widget must not stop the others from drawing.
      console.error("sse_widgets: a render failed", error);
    }
  }
}

const now = () => globalThis.performance?.now?.() ?? Date.now();

/**
 * A render scheduler for one view that can also slow down: `schedule(minGapMs)` draws at the
 * next frame, but not sooner than `minGapMs` after the previous draw. A log flooded with
 * thousands of lines a second redraws ~20 times a second instead of 60, which nobody can
 * tell apart while reading and which leaves the page's frames to everything else.
 *
 * @param {() => void} draw
 * @returns {{ schedule: (minGapMs?: number) => void, cancel: () => void }}
 * @example
 *   const render = throttledRender(draw);
 *   render.schedule(busy ? 50 : 0);
 */
export function throttledRender(draw) {
  let last = -Infinity;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  let cancelFrame = () => {};
  const run = () => {
    last = now();
    draw();
  };
  return {
    schedule(minGapMs = 0) {
      if (timer !== null) return; // a delayed draw is coming: it takes everything pending
      const wait = last + minGapMs - now();
      if (wait <= 0) {
        cancelFrame = scheduleRender(run);
        return;
      }
      timer = setTimeout(() => {
        timer = null;
        cancelFrame = scheduleRender(run);
      }, wait);
    },
    cancel() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      cancelFrame();
    },
  };
}
