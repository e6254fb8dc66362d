// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { XSS, meta as metaOf, mount, useFrames } from "../../test/views-helpers.js";
import { createActivityView } from "./activity.js";

/** Wait for the scheduled render (the 16 ms fallback or a frame). */
const frame = () => new Promise((resolve) => setTimeout(resolve, 40));

/**
 * A fake sub-view that records every call it gets.
 * @param {string} kind
 * @param {string[]} events
 */
function fakeFactory(kind, events) {
  /** @type {any[]} */
  const made = [];
  /** @param {HTMLElement} el @param {any} options @param {any} host */
  const factory = (el, options, host) => {
    const calls = /** @type {any[][]} */ ([]);
    const root = el.ownerDocument.createElement("div");
    root.className = `fake-${kind}`;
    el.appendChild(root);
    const view = {
      events,
      calls,
      options,
      host,
      root,
      /** @param {any[]} args */
      onEvent: (...args) => calls.push(["event", ...args]),
      /** @param {any[]} args */
      onReset: (...args) => calls.push(["reset", ...args]),
      /** @param {any[]} args */
      onClose: (...args) => calls.push(["close", ...args]),
      /** @param {any[]} args */
      setStatus: (...args) => calls.push(["status", ...args]),
      /** @param {any[]} args */
      setOptions: (...args) => calls.push(["options", ...args]),
      destroy: () => {
        calls.push(["destroy"]);
        root.remove();
      },
    };
    made.push(view);
    return view;
  };
  return { factory, made };
}

function fakes() {
  const parts = {
    progress: fakeFactory("progress", ["progress"]),
    chart: fakeFactory("chart", ["point"]),
    text: fakeFactory("text", ["text"]),
    log: fakeFactory("log", ["log"]),
  };
  const factories = {
    progress: parts.progress.factory,
    chart: parts.chart.factory,
    text: parts.text.factory,
    log: parts.log.factory,
  };
  /** @param {"progress" | "chart" | "text" | "log"} kind */
  const view = (kind) => parts[kind].made[0];
  return { factories, view };
}

const host = { control: async () => {} };
const meta = { channel: "job", id: "e-1", time: 1 };

/** @param {HTMLElement} el @param {string} kind */
const section = (el, kind) =>
  /** @type {HTMLElement} */ (el.querySelector(`.ssew-activity-section[data-kind="${kind}"]`));

afterEach(() => {
  document.body.innerHTML = "";
});

describe("activity view", () => {
  it("has one root with sections bars, chart, text, log, all hidden at first", () => {
    const el = document.createElement("div");
    createActivityView(el, { channel: "job" }, host, fakes().factories);
    const root = /** @type {HTMLElement} */ (el.firstElementChild);
    expect(root.className).toBe("ssew-root ssew-activity");
    expect(root.dataset.widget).toBe("activity");
    expect(root.dataset.channel).toBe("job");
    const kinds = [...root.querySelectorAll(".ssew-activity-section")].map(
      (s) => /** @type {HTMLElement} */ (s).dataset.kind,
    );
    expect(kinds).toEqual(["progress", "chart", "text", "log"]);
    for (const kind of kinds) expect(section(el, /** @type {string} */ (kind)).hidden).toBe(true);
  });

  it("consumes the union of its sub-views' events", () => {
    const view = createActivityView(document.createElement("div"), {}, host, fakes().factories);
    expect(view.events).toEqual(["progress", "point", "text", "log"]);
  });

  it("routes each event to its view and shows only the sections that got one", async () => {
    const el = document.createElement("div");
    const { factories, view: sub } = fakes();
    const view = createActivityView(el, { channel: "job" }, host, factories);
    const payload = { bar: "b1", value: 1, total: 3 };
    view.onEvent("progress", payload, meta);
    view.onEvent("log", { level: "INFO", message: "hi" }, meta);
    view.onEvent("unknown", {}, meta);
    expect(sub("progress").calls).toEqual([["event", "progress", payload, meta]]);
    expect(sub("log").calls).toHaveLength(1);
    expect(sub("chart").calls).toEqual([]);
    expect(sub("text").calls).toEqual([]);
    await frame();
    expect(section(el, "progress").hidden).toBe(false);
    expect(section(el, "log").hidden).toBe(false);
    expect(section(el, "chart").hidden).toBe(true);
    expect(section(el, "text").hidden).toBe(true);
    const root = /** @type {HTMLElement} */ (el.firstElementChild);
    expect(root.dataset.count).toBe("2");
    expect(section(el, "progress").dataset.count).toBe("1");
  });

  it("passes its options but `event` to every sub-view, and the host", () => {
    const { factories, view: sub } = fakes();
    const options = { channel: "job", max_lines: 7, event: null };
    createActivityView(document.createElement("div"), options, host, factories);
    for (const kind of /** @type {const} */ (["progress", "chart", "text", "log"])) {
      expect(sub(kind).options).toEqual({ channel: "job", max_lines: 7 });
      expect(sub(kind).host).toBe(host);
    }
  });

  it("fans out reset, close, status, options and destroy", () => {
    const el = document.createElement("div");
    const { factories, view: sub } = fakes();
    const view = createActivityView(el, { channel: "job" }, host, factories);
    view.onReset("job", "history-exceeded");
    view.onClose("job", "deleted");
    view.setStatus("live");
    view.setOptions({ window: 50, event: "x" });
    view.setOptions({ event: "y" }); // nothing left to pass on
    view.destroy();
    for (const kind of /** @type {const} */ (["progress", "chart", "text", "log"])) {
      expect(sub(kind).calls).toEqual([
        ["reset", "job", "history-exceeded"],
        ["close", "job", "deleted"],
        ["status", "live"],
        ["options", { window: 50 }],
        ["destroy"],
      ]);
    }
    expect(el.children).toHaveLength(0);
  });

  it("draws nothing after destroy", async () => {
    const el = document.createElement("div");
    const view = createActivityView(el, {}, host, fakes().factories);
    view.onEvent("log", { message: "late" }, meta);
    view.destroy();
    await frame();
    expect(el.children).toHaveLength(0);
  });
});

describe("activity view with the real views", () => {
  const { nextFrame } = useFrames();

  it("shows a bar, text and a log line, as text, and no chart until a point", () => {
    const { el, view, root } = mount(createActivityView, { channel: "job", max_lines: 10 });
    expect(view.events).toEqual(["progress", "point", "text", "log"]);
    const bar = { bar: "b1", value: 3, total: 10, desc: "nightly", state: "running" };
    view.onEvent("progress", bar, metaOf("job"));
    view.onEvent("text", { stream: "summary", delta: "batch 0: ok" }, metaOf("job"));
    view.onEvent("log", { level: "INFO", logger: "n", message: XSS, time: 1 }, metaOf("job"));
    nextFrame();
    expect(root.dataset.count).toBe("3");
    expect(el.querySelector(".ssew-bar-count")?.textContent).toBe("3/10");
    expect(el.querySelector(".ssew-log-msg")?.textContent).toBe(XSS);
    expect(el.querySelector("img")).toBeNull();
    expect(root.textContent).toContain("batch 0: ok");
    expect(section(el, "chart").hidden).toBe(true);
    view.destroy();
    expect(el.children).toHaveLength(0);
  });
});
