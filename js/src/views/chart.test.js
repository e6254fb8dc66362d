// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PALETTE, createChartView, formatValue } from "./chart.js";

// Every uPlot the view builds, to read what it was given (data, scales, series options).
const made = vi.hoisted(() => /** @type {any[]} */ ([]));
vi.mock("uplot", async (importOriginal) => {
  const real = /** @type {any} */ (await importOriginal()).default;
  /** @param {any[]} args */
  function RecordedPlot(...args) {
    const plot = new real(...args);
    made.push(plot);
    return plot;
  }
  return { default: RecordedPlot };
});

/** @type {FrameRequestCallback[]} */
let frames = [];
/** @type {string[]} text drawn on canvases (axis labels, tick values) */
let drawnText = [];

/** A 2D context that accepts every call (happy-dom has no canvas drawing). */
function fakeContext(/** @type {HTMLCanvasElement} */ canvas) {
  /** @type {Record<string | symbol, any>} */
  const state = { canvas };
  return new Proxy(state, {
    get(target, prop) {
      if (prop in target) return target[prop];
      if (prop === "measureText") return (/** @type {string} */ s) => ({ width: 7 * String(s).length });
      if (prop === "fillText") return (/** @type {string} */ s) => drawnText.push(String(s));
      return () => {};
    },
    set(target, prop, value) {
      target[prop] = value;
      return true;
    },
  });
}

class FakePath2D {
  constructor() {
    return new Proxy(this, { get: (t, p) => (p in t ? /** @type {any} */ (t)[p] : () => {}) });
  }
}

/** Run the animation frame due, then let uPlot's commit (a microtask) draw. */
async function nextFrame() {
  const due = frames;
  frames = [];
  for (const cb of due) cb(performance.now());
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
}

const META = { channel: "train", id: "1", time: 0 };
const other = { ...META, channel: "eval" };

/** @param {Record<string, any>} [options] */
function mount(options = {}) {
  const el = document.createElement("div");
  document.body.appendChild(el);
  const view = createChartView(el, { channel: "train", ...options }, { control: async () => {} });
  const root = /** @type {HTMLElement} */ (el.querySelector(".ssew-chart"));
  return { el, view, root };
}

/**
 * The root's data-* attributes (happy-dom's dataset leaves out empty values when listed).
 * @param {HTMLElement} root
 */
function attrs(root) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const name of root.getAttributeNames()) {
    if (name.startsWith("data-")) out[name.slice(5)] = /** @type {string} */ (root.getAttribute(name));
  }
  return out;
}

/** The uPlot the view draws with now. */
const plot = () => made[made.length - 1];
/** @param {HTMLElement} root */
const legendText = (root) =>
  [...root.querySelectorAll(".ssew-chart-legend-item")].map((item) => item.textContent);

/** Deep-freeze: a write to a shared payload throws (modules are strict). */
function frozen(/** @type {any} */ value) {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) frozen(v);
    Object.freeze(value);
  }
  return value;
}

beforeEach(() => {
  frames = [];
  drawnText = [];
  made.length = 0;
  vi.stubGlobal("requestAnimationFrame", (/** @type {FrameRequestCallback} */ cb) => {
    frames.push(cb);
    return frames.length;
  });
  vi.stubGlobal("Path2D", FakePath2D);
  vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockImplementation(function () {
    return /** @type {any} */ (fakeContext(this));
  });
});

afterEach(async () => {
  await nextFrame(); // frames.js keeps one request open: let it run before the next test
  document.body.replaceChildren();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe("DOM contract", () => {
  it("builds root, toolbar, plot host and legend with the data attributes", async () => {
    const { root } = mount();
    expect(root.classList.contains("ssew-root")).toBe(true);
    expect(root.dataset.widget).toBe("chart");
    const button = root.querySelector(".ssew-chart-toolbar button.ssew-chart-pause");
    expect(button?.textContent).toBe("Pause");
    expect(root.querySelector(".ssew-chart-toolbar .ssew-chart-counter")).not.toBeNull();
    expect(root.querySelector(".ssew-chart-plot")).not.toBeNull();
    expect(attrs(root)).toMatchObject({ count: "0", points: "0", frames: "0", series: "" });
    await nextFrame();
    expect(root.querySelector(".ssew-chart-plot .uplot")).not.toBeNull();
    expect(document.getElementById("ssew-style-chart")).not.toBeNull();
    expect(document.getElementById("ssew-style-uplot")?.textContent).toContain(".u-over");
  });

  it("consumes the `point` event, or the event option", () => {
    expect(mount().view.events).toEqual(["point"]);
    const { view } = mount({ event: "metric" });
    expect(view.events).toEqual(["metric"]);
    view.setOptions({ event: "m2" });
    expect(view.events).toEqual(["m2"]);
  });

  it("setStatus sets data-status and the status text; onClose adds a note", () => {
    const { view, root } = mount();
    view.setStatus("live");
    expect(root.dataset.status).toBe("live");
    view.onClose("eval", "deleted");
    expect(root.dataset.closed).toBeUndefined();
    view.onClose("train", "deleted");
    expect(root.dataset.closed).toBe("deleted");
    expect(root.querySelector(".ssew-status")?.textContent).toBe("live · closed: deleted");
  });

  it("destroy removes the DOM and cancels the scheduled render", async () => {
    const { view, el, root } = mount();
    view.onEvent("point", { series: "a", x: 1, y: 1 }, META);
    view.destroy();
    expect(el.children).toHaveLength(0);
    await nextFrame();
    expect(root.dataset.frames).toBe("0");
    expect(made).toHaveLength(0);
  });
});

describe("events", () => {
  it("merges columnar and single points of several series into one aligned plot", async () => {
    const { view, root } = mount();
    view.onEvent("point", { x: [1, 2, 3], y: { loss: [0.5, 0.4, 0.3] } }, META);
    view.onEvent("point", { x: [1, 2, 3], y: { acc: [0.7, 0.8, 0.9] } }, META);
    view.onEvent("point", { series: "acc", x: 4, y: 0.95 }, META);
    await nextFrame();
    expect(plot().data).toEqual([
      [1, 2, 3, 4],
      [0.5, 0.4, 0.3, undefined],
      [0.7, 0.8, 0.9, 0.95],
    ]);
    expect(attrs(root)).toMatchObject({ count: "3", points: "7", series: "loss,acc" });
    expect(root.querySelector(".ssew-chart-counter")?.textContent).toBe("7 points");
    expect(legendText(root)).toEqual(["loss0.3", "acc0.95"]);
    expect(plot().series.slice(1).map((/** @type {any} */ s) => s._stroke ?? s.stroke)).toEqual(
      PALETTE.slice(0, 2),
    );
  });

  it("ignores other channels, other event names and payloads of neither form", async () => {
    const { view, root } = mount();
    view.onEvent("point", { series: "a", x: 1, y: 1 }, other);
    view.onEvent("log", { series: "a", x: 1, y: 1 }, META);
    view.onEvent("point", { what: 1 }, META);
    view.onEvent("point", { series: "a", x: 2, y: 2 }, META);
    await nextFrame();
    expect(attrs(root)).toMatchObject({ count: "1", points: "1" });
    expect(plot().data).toEqual([[2], [2]]);
  });

  it("draws null, NaN and missing x as gaps (null), alignment as no value (undefined)", async () => {
    const { view } = mount();
    view.onEvent("point", { x: [1, 2, 3], y: { a: [1, null, 3] } }, META);
    view.onEvent("point", { series: "a", x: 4, y: NaN }, META);
    view.onEvent("point", { series: "b", x: 2.5, y: 7 }, META);
    await nextFrame();
    expect(plot().data).toEqual([
      [1, 2, 2.5, 3, 4],
      [1, null, undefined, 3, null],
      [undefined, undefined, 7, undefined, undefined],
    ]);
    expect(plot().series[1].spanGaps).toBe(false);
  });

  it("never mutates payloads (they are shared between views)", async () => {
    const { view, root } = mount({ window: 2 });
    view.onEvent("point", frozen({ x: [3, 1, 2], y: { a: [3, 1, null] } }), META);
    view.onEvent("point", frozen({ series: "b", x: 2, y: 5 }), META);
    await nextFrame();
    expect(root.dataset.points).toBe("4");
    expect(plot().data).toEqual([[2, 3], [null, 3], [5, undefined]]);
  });

  it("keeps the last `window` x positions and counts every point received", async () => {
    const { view, root } = mount({ window: 3 });
    view.onEvent("point", { x: [1, 2, 3, 4, 5], y: { a: [1, 2, 3, 4, 5], b: [5, 4, 3, 2, 1] } }, META);
    await nextFrame();
    expect(plot().data[0]).toEqual([3, 4, 5]);
    expect(root.dataset.points).toBe("10");
    view.setOptions({ window: 2 });
    await nextFrame();
    expect(plot().data).toEqual([[4, 5], [4, 5], [2, 1]]);
  });

  it("draws only the series option's names, and follows a change of it", async () => {
    const { view, root } = mount({ series: ["loss"] });
    view.onEvent("point", { x: [1, 2], y: { loss: [1, 2], acc: [3, 4] } }, META);
    await nextFrame();
    expect(attrs(root)).toMatchObject({ series: "loss", points: "4" });
    expect(plot().data).toEqual([[1, 2], [1, 2]]);
    view.setOptions({ series: [] });
    view.onEvent("point", { x: [3], y: { loss: [5], acc: [6] } }, META);
    await nextFrame();
    expect(root.dataset.series).toBe("loss,acc");
    expect(legendText(root)).toEqual(["loss5", "acc6"]);
  });

  it("redraws once a frame however many events came, with one setData", async () => {
    const { view, root } = mount();
    view.onEvent("point", { series: "a", x: 0, y: 0 }, META);
    await nextFrame();
    expect(root.dataset.frames).toBe("1");
    const setData = vi.spyOn(plot(), "setData");
    const started = performance.now();
    for (let x = 1; x <= 10_000; x += 1) view.onEvent("point", { series: "a", x, y: x }, META);
    const perEvent = (performance.now() - started) / 10_000;
    expect(root.dataset.frames).toBe("1"); // nothing drawn between frames
    await nextFrame();
    expect(setData).toHaveBeenCalledTimes(1);
    expect(root.dataset.frames).toBe("2");
    expect(plot().data[0]).toHaveLength(2000);
    expect(plot().data[0][1999]).toBe(10_000);
    expect(perEvent).toBeLessThan(0.05); // ms: 10,000 events/s cost well under a frame's budget
  });

  it("onReset of its channel clears data and counters; another channel's does nothing", async () => {
    const { view, root } = mount();
    view.onEvent("point", { series: "a", x: 1, y: 1 }, META);
    await nextFrame();
    view.onReset("eval", "history-exceeded");
    await nextFrame();
    expect(plot().data).toEqual([[1], [1]]);
    view.onReset("train", "history-exceeded");
    await nextFrame();
    expect(plot().data).toEqual([[]]);
    expect(attrs(root)).toMatchObject({ count: "0", points: "0", series: "" });
    expect(legendText(root)).toEqual([]);
    view.onEvent("point", { series: "b", x: 2, y: 2 }, META);
    await nextFrame();
    expect(attrs(root)).toMatchObject({ count: "1", series: "b" });
  });

  it("a new channel option starts from nothing and takes only that channel", async () => {
    const { view, root } = mount();
    view.onEvent("point", { series: "a", x: 1, y: 1 }, META);
    view.setOptions({ channel: "eval" });
    view.onEvent("point", { series: "a", x: 5, y: 1 }, META);
    view.onEvent("point", { series: "b", x: 2, y: 2 }, other);
    await nextFrame();
    expect(attrs(root)).toMatchObject({ count: "1", series: "b" });
  });
});

describe("pause", () => {
  it("the button toggles, says Resume, and reports the option change", () => {
    const { root } = mount();
    const button = /** @type {HTMLButtonElement} */ (root.querySelector(".ssew-chart-pause"));
    /** @type {any[]} */
    const reported = [];
    document.body.addEventListener("ssew-option", (e) => reported.push(/** @type {any} */ (e).detail));
    button.click();
    expect(button.textContent).toBe("Resume");
    expect(root.dataset.paused).toBe("true");
    button.click();
    expect(button.textContent).toBe("Pause");
    expect(reported).toEqual([
      { name: "paused", value: true },
      { name: "paused", value: false },
    ]);
  });

  it("keeps taking points (bounded) without redrawing; resume redraws the latest once", async () => {
    const { view, root } = mount({ window: 100 });
    view.onEvent("point", { series: "a", x: 0, y: 0 }, META);
    await nextFrame();
    const frozenData = plot().data;
    view.setOptions({ paused: true });
    expect(root.querySelector(".ssew-chart-pause")?.textContent).toBe("Resume");
    for (let x = 1; x <= 5000; x += 1) view.onEvent("point", { series: "a", x, y: x }, META);
    await nextFrame();
    await nextFrame();
    expect(attrs(root)).toMatchObject({ frames: "1", count: "5001", points: "5001" });
    expect(plot().data).toBe(frozenData);
    expect(frozenData).toEqual([[0], [0]]); // the plot's arrays were not written to
    expect(legendText(root)).toEqual(["a0"]);
    view.setOptions({ paused: false });
    await nextFrame();
    expect(root.dataset.frames).toBe("2");
    expect(plot().data[0]).toHaveLength(100);
    expect(plot().data[0][99]).toBe(5000);
    expect(legendText(root)).toEqual(["a5000"]);
    await nextFrame();
    expect(root.dataset.frames).toBe("2"); // nothing new: no further redraw
  });

  it("starts paused when the option says so", async () => {
    const { view, root } = mount({ paused: true });
    expect(root.querySelector(".ssew-chart-pause")?.textContent).toBe("Resume");
    view.onEvent("point", { series: "a", x: 1, y: 1 }, META);
    await nextFrame();
    expect(attrs(root)).toMatchObject({ frames: "0", count: "1" });
    expect(made).toHaveLength(0);
  });
});

describe("axes and text", () => {
  it("uses a time axis only when every x looks like unix seconds", async () => {
    const { view } = mount({ window: 3 });
    view.onEvent("point", { x: [1, 2], y: { a: [1, 2] } }, META);
    await nextFrame();
    expect(plot().scales.x.time).toBe(false);
    view.onEvent("point", { x: [1.7e9, 1.7e9 + 1, 1.7e9 + 2], y: { a: [1, 2, 3] } }, META);
    await nextFrame();
    expect(plot().scales.x.time).toBe(true);
  });

  it("puts title and axis labels in as text, never as HTML", async () => {
    const { view, root } = mount({ title: "<b>loss</b>", x_label: "step", y_label: "<i>y</i>" });
    view.onEvent("point", { series: "<img src=x onerror=alert(1)>", x: 1, y: 1 }, META);
    await nextFrame();
    const title = root.querySelector(".u-title");
    expect(title?.textContent).toBe("<b>loss</b>");
    expect(root.querySelector("b, i, img")).toBeNull();
    expect(legendText(root)).toEqual(["<img src=x onerror=alert(1)>1"]);
    expect(drawnText).toEqual(expect.arrayContaining(["step", "<i>y</i>"]));
    view.setOptions({ title: "accuracy" });
    await nextFrame();
    expect(root.querySelector(".u-title")?.textContent).toBe("accuracy");
    expect(root.querySelectorAll(".uplot")).toHaveLength(1);
  });

  it("follows the height option and the container's width", async () => {
    /** @type {any[]} */
    const observers = [];
    vi.stubGlobal(
      "ResizeObserver",
      class {
        constructor(/** @type {() => void} */ callback) {
          this.callback = callback;
          this.disconnect = vi.fn();
          observers.push(this);
        }
        observe() {}
      },
    );
    const { view, root } = mount({ height: 200 });
    await nextFrame();
    expect(plot().height).toBe(200);
    const host = /** @type {HTMLElement} */ (root.querySelector(".ssew-chart-plot"));
    Object.defineProperty(host, "clientWidth", { value: 812, configurable: true });
    observers[0].callback();
    expect(plot().width).toBe(812);
    view.setOptions({ height: 150 });
    expect(plot().height).toBe(150);
    view.destroy();
    expect(observers[0].disconnect).toHaveBeenCalled();
  });

  it("works without ResizeObserver", async () => {
    vi.stubGlobal("ResizeObserver", undefined);
    const { view, root } = mount();
    view.onEvent("point", { series: "a", x: 1, y: 1 }, META);
    await nextFrame();
    expect(root.dataset.frames).toBe("1");
  });

  it("keeps state, legend and counters where no 2D canvas exists", async () => {
    vi.mocked(HTMLCanvasElement.prototype.getContext).mockReturnValue(null);
    const { view, root } = mount();
    view.onEvent("point", { x: [1, 2], y: { a: [1, 2] } }, META);
    await nextFrame();
    expect(made).toHaveLength(0);
    expect(attrs(root)).toMatchObject({ frames: "1", points: "2", series: "a" });
    expect(legendText(root)).toEqual(["a2"]);
  });
});

describe("formatValue", () => {
  it.each([
    [undefined, "–"],
    [null, "–"],
    [3, "3"],
    [0.123456789, "0.12346"],
    [1234567.5, "1.235e+6"],
    [0.00001234, "1.234e-5"],
    [0, "0"],
  ])("%s -> %s", (value, want) => {
    expect(formatValue(value)).toBe(want);
  });
});
