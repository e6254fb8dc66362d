// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { XSS, fakeHost, meta, mount, settle, useFrames } from "../../test/views-helpers.js";
import { MAX_BARS, createProgressView, formatDuration, formatNumber, formatRate } from "./progress.js";

const { nextFrame, pending } = useFrames();

/** @param {Record<string, any>} fields */
function bar(fields) {
  return { bar: "b1", value: 0, total: 10, desc: "work", unit: "it", rate: null, elapsed: 0, eta: null,
    parent: null, state: "running", message: null, ...fields };
}

/** @param {Record<string, any>} [options] @param {any} [host] */
function setup(options = {}, host) {
  const mounted = mount(createProgressView, { channel: "c", ...options }, host);
  /** @param {Record<string, any>} fields */
  const send = (fields, channel = "c") => mounted.view.onEvent("progress", bar(fields), meta(channel));
  /** @param {string} id */
  const row = (id) => /** @type {HTMLElement} */ (mounted.root.querySelector(`.ssew-bar[data-bar="${id}"]`));
  /** @param {string} id @param {string} part */
  const text = (id, part) => row(id).querySelector(`.ssew-bar-${part}`)?.textContent;
  const order = () => [...mounted.root.querySelectorAll(".ssew-bar")].map((r) => /** @type {HTMLElement} */ (r).dataset.bar);
  return { ...mounted, send, row, text, order };
}

describe("formatting", () => {
  it.each([
    [1000, "1000"], [0, "0"], [2.5, "2.5"], [2.456, "2.46"], [1 / 3, "0.33"], [12345678, "12345678"],
    [null, "?"], [Number.NaN, "?"],
  ])("formatNumber(%s) is %s", (value, expected) => {
    expect(formatNumber(value)).toBe(expected);
  });

  it.each([
    [812.4, "812 it/s"], [8.123, "8.12 it/s"], [81.25, "81.3 it/s"], [12345, "12.3k it/s"],
    [4_560_000, "4.56M it/s"], [0.4, "2.50 s/it"], [0, "0 it/s"], [null, "? it/s"],
  ])("formatRate(%s) is %s", (rate, expected) => {
    expect(formatRate(rate, "it")).toBe(expected);
  });

  it.each([[0, "0:00"], [12, "0:12"], [75.4, "1:15"], [3600, "1:00:00"], [3725, "1:02:05"], [-3, "0:00"]])(
    "formatDuration(%s) is %s", (seconds, expected) => {
      expect(formatDuration(seconds)).toBe(expected);
    });
});

describe("createProgressView", () => {
  it("has a root that says what it is, its status and its event count", () => {
    const { root, view } = setup();
    expect(root.classList.contains("ssew-root")).toBe(true);
    expect(root.classList.contains("ssew-progress")).toBe(true);
    expect(root.dataset.widget).toBe("progress");
    expect(root.dataset.count).toBe("0");
    expect(view.events).toEqual(["progress"]);
    view.setStatus("live");
    expect(root.dataset.status).toBe("live");
    view.setStatus("error: hub unreachable");
    expect(root.querySelector(".ssew-status")?.textContent).toBe("error: hub unreachable");
  });

  it("consumes the event named by the `event` option", () => {
    const { view, root } = setup({ event: "job" });
    expect(view.events).toEqual(["job"]);
    view.onEvent("progress", bar({}), meta());
    view.onEvent("job", bar({}), meta());
    nextFrame();
    expect(root.dataset.count).toBe("1");
  });

  it("touches the DOM only when the frame runs, once for many events", () => {
    const { send, root } = setup();
    for (let v = 1; v <= 1000; v += 1) send({ value: v, total: 1000, state: v === 1000 ? "done" : "running" });
    expect(pending()).toBe(1);
    expect(root.querySelector(".ssew-bar")).toBeNull();
    expect(root.dataset.count).toBe("0");
    nextFrame();
    expect(root.dataset.count).toBe("1000");
  });

  it("shows exactly value/total after many events, and the final state", () => {
    const { send, row, text } = setup();
    for (let v = 0; v <= 1000; v += 1) {
      send({ value: v, total: 1000, rate: 812.4, elapsed: v / 812, eta: (1000 - v) / 812,
        state: v === 1000 ? "done" : "running" });
      if (v % 97 === 0) nextFrame(); // frames interleaved with the stream, as in a browser
    }
    nextFrame();
    const r = row("b1");
    expect(text("b1", "count")).toBe("1000/1000");
    expect(r.dataset.value).toBe("1000");
    expect(r.dataset.total).toBe("1000");
    expect(r.dataset.state).toBe("done");
    expect(text("b1", "pct")).toBe("100%");
    expect(text("b1", "rate")).toBe("812 it/s");
    expect(text("b1", "eta")).toBe("0:01"); // elapsed once finished
    expect(/** @type {HTMLElement} */ (r.querySelector(".ssew-bar-fill")).style.width).toBe("100.00%");
  });

  it("shows rate, ETA and percentage while running", () => {
    const { send, text, row } = setup();
    send({ value: 42, total: 100, rate: 3.5, elapsed: 12, eta: 16.6, unit: "batch" });
    nextFrame();
    expect(text("b1", "count")).toBe("42/100");
    expect(text("b1", "pct")).toBe("42%");
    expect(text("b1", "rate")).toBe("3.50 batch/s");
    expect(text("b1", "eta")).toBe("ETA 0:17");
    expect(text("b1", "desc")).toBe("work");
    expect(/** @type {HTMLElement} */ (row("b1").querySelector(".ssew-bar-fill")).style.width).toBe("42.00%");
  });

  it("formats float counts and shows an indeterminate bar without a total", () => {
    const { send, text, row } = setup();
    send({ bar: "f", value: 2.456, total: 10.5 });
    send({ bar: "n", value: 42, total: null, rate: 0.25 });
    nextFrame();
    expect(text("f", "count")).toBe("2.46/10.5");
    expect(text("n", "count")).toBe("42");
    expect(row("n").dataset.total).toBe("");
    expect(row("n").classList.contains("ssew-indeterminate")).toBe(true);
    expect(text("n", "pct")).toBe("");
    expect(text("n", "rate")).toBe("4.00 s/it");
    send({ bar: "n", value: 50, total: null, state: "done" });
    nextFrame();
    expect(row("n").classList.contains("ssew-indeterminate")).toBe(false);
  });

  it("orders bars by first appearance with children right after their parent, indented", () => {
    const { send, order, row } = setup();
    send({ bar: "a" });
    send({ bar: "b" });
    send({ bar: "a1", parent: "a" });
    send({ bar: "a1x", parent: "a1" });
    send({ bar: "b1", parent: "b" });
    send({ bar: "a2", parent: "a" });
    nextFrame();
    expect(order()).toEqual(["a", "a1", "a1x", "a2", "b", "b1"]);
    expect(["a", "a1", "a1x", "a2", "b", "b1"].map((id) => row(id).dataset.depth)).toEqual(["0", "1", "2", "1", "0", "1"]);
    expect(row("a1x").style.getPropertyValue("--ssew-depth")).toBe("2");
  });

  it("moves a child that arrived before its parent under the parent once it appears", () => {
    const { send, order, row } = setup();
    send({ bar: "kid", parent: "mum" });
    nextFrame();
    expect(order()).toEqual(["kid"]);
    expect(row("kid").dataset.depth).toBe("0");
    send({ bar: "other" });
    send({ bar: "mum" });
    nextFrame();
    expect(order()).toEqual(["other", "mum", "kid"]);
    expect(row("kid").dataset.depth).toBe("1");
  });

  it("survives a parent cycle in bad data", () => {
    const { send, order } = setup();
    send({ bar: "x", parent: "y" });
    send({ bar: "y", parent: "x" });
    send({ bar: "z" });
    nextFrame();
    expect(order()).toEqual(["z"]);
  });

  it.each(["running", "done", "error", "cancelled"])("marks a %s bar with data-state", (state) => {
    const { send, row } = setup();
    send({ state, message: state === "error" ? "ValueError: bad" : null });
    nextFrame();
    expect(row("b1").dataset.state).toBe(state);
  });

  it("keeps a finished bar visible, with its message", () => {
    const { send, row, text } = setup();
    send({ value: 3 });
    send({ bar: "b2" });
    send({ value: 3, state: "error", message: "ValueError: bad input" });
    nextFrame();
    expect(row("b1")).not.toBeNull();
    expect(text("b1", "msg")).toBe("ValueError: bad input");
    expect(/** @type {HTMLElement} */ (row("b1").querySelector(".ssew-bar-sub")).hidden).toBe(false);
    expect(/** @type {HTMLElement} */ (row("b2").querySelector(".ssew-bar-sub")).hidden).toBe(true);
  });

  it("shows ok / failed counts and the last errors", () => {
    const { send, row, text } = setup();
    send({ value: 15, ok: 12, failed: 3, errors: ["KeyError: 'a'", "KeyError: 'b'", "OSError: disk"] });
    nextFrame();
    const outcome = /** @type {HTMLElement} */ (row("b1").querySelector(".ssew-bar-outcome"));
    expect(outcome.hidden).toBe(false);
    expect(outcome.textContent).toBe("✓ 12 ✗ 3");
    expect(text("b1", "failed")).toBe("3");
    expect(outcome.classList.contains("ssew-has-failed")).toBe(true);
    expect(outcome.getAttribute("title")).toContain("OSError: disk");
    const items = [...row("b1").querySelectorAll(".ssew-bar-errors li")].map((li) => li.textContent);
    expect(items).toEqual(["KeyError: 'a'", "KeyError: 'b'", "OSError: disk"]);
  });

  it("hides the outcome of a bar that counts nothing", () => {
    const { send, row } = setup();
    send({});
    nextFrame();
    expect(/** @type {HTMLElement} */ (row("b1").querySelector(".ssew-bar-outcome")).hidden).toBe(true);
    expect(/** @type {HTMLElement} */ (row("b1").querySelector(".ssew-bar-errors")).hidden).toBe(true);
  });

  it("removes a finished bar sent with leave: false (tqdm's leave=False), keeps a failed one", () => {
    const { view, root } = setup();
    const m = meta("c");
    view.onEvent("progress", { bar: "outer", value: 0, total: 2, state: "running" }, m);
    view.onEvent("progress", { bar: "e1", parent: "outer", value: 5, total: 5, state: "running", leave: false }, m);
    view.onEvent("progress", { bar: "e2", parent: "outer", value: 1, total: 5, state: "running", leave: false }, m);
    nextFrame();
    expect([...root.querySelectorAll(".ssew-bar")].map((b) => b.getAttribute("data-bar"))).toEqual(["outer", "e1", "e2"]);
    view.onEvent("progress", { bar: "e1", parent: "outer", value: 5, total: 5, state: "done", leave: false }, m);
    view.onEvent("progress", { bar: "e2", parent: "outer", value: 1, total: 5, state: "error", message: "boom", leave: false }, m);
    nextFrame();
    expect([...root.querySelectorAll(".ssew-bar")].map((b) => b.getAttribute("data-bar"))).toEqual(["outer", "e2"]);
  });

  it("shows the current phase next to the description", () => {
    const { send, text } = setup();
    send({ value: 2.5, total: 10, rate: 0.02, phase: "train", phases: { load: 1, train: 8, save: 1 } });
    nextFrame();
    expect(text("b1", "phase")).toBe("train 2/3");
    // counted in weights: the percentage says it, not "2.5/10" or "50.00 s/it"
    expect(text("b1", "pct")).toBe("25%");
    expect(text("b1", "count")).toBe("");
    expect(text("b1", "rate")).toBe("");
  });

  it("cancels a running bar through host.control and says it is cancelling", async () => {
    const host = fakeHost();
    const { send, row } = setup({}, host);
    send({ bar: "top" });
    send({ bar: "kid", parent: "top" });
    nextFrame();
    const button = /** @type {HTMLButtonElement} */ (row("kid").querySelector("button.ssew-cancel"));
    expect(button.hidden).toBe(false);
    button.click();
    expect(host.control).toHaveBeenCalledWith("c", { event: "cancel", data: { bar: "kid" } });
    expect(button.disabled).toBe(true);
    expect(button.textContent).toBe("cancelling…");
    button.click();
    expect(host.control).toHaveBeenCalledTimes(1);
    await settle();
    send({ bar: "kid", parent: "top", state: "cancelled", message: "cancelled from the viewer" });
    nextFrame();
    expect(button.hidden).toBe(true);
    expect(row("kid").dataset.state).toBe("cancelled");
  });

  it("shows why a cancel failed and lets the user try again", async () => {
    const host = fakeHost({ reject: "403: not authorized to control channel c" });
    const { send, row } = setup({}, host);
    send({});
    nextFrame();
    const button = /** @type {HTMLButtonElement} */ (row("b1").querySelector("button.ssew-cancel"));
    button.click();
    await settle();
    nextFrame();
    expect(button.disabled).toBe(false);
    expect(button.textContent).not.toBe("cancelling…");
    expect(row("b1").querySelector(".ssew-cancel-error")?.textContent).toBe(
      "cancel failed: 403: not authorized to control channel c");
    button.click();
    expect(host.control).toHaveBeenCalledTimes(2);
  });

  it("offers no cancel for finished bars or with show_cancel off", () => {
    const { send, row, view } = setup({ show_cancel: false });
    send({ bar: "r" });
    send({ bar: "d", state: "done" });
    nextFrame();
    const cancel = (/** @type {string} */ id) => /** @type {HTMLElement} */ (row(id).querySelector(".ssew-cancel"));
    expect(cancel("r").hidden).toBe(true);
    view.setOptions({ show_cancel: true });
    nextFrame();
    expect(cancel("r").hidden).toBe(false);
    expect(cancel("d").hidden).toBe(true);
  });

  it("shows one bar (by id or desc) and its children with `bar`, counting every event", () => {
    const { send, order, view, root } = setup({ bar: "epochs" });
    send({ bar: "e", desc: "epochs" });
    send({ bar: "e1", desc: "batches", parent: "e" });
    send({ bar: "other", desc: "eval" });
    nextFrame();
    expect(order()).toEqual(["e", "e1"]);
    expect(root.dataset.count).toBe("3");
    view.setOptions({ bar: "other" });
    nextFrame();
    expect(order()).toEqual(["other"]);
    view.setOptions({ bar: "e1" });
    nextFrame();
    expect(order()).toEqual(["e1"]);
    view.setOptions({ bar: null });
    nextFrame();
    expect(order()).toEqual(["e", "e1", "other"]);
  });

  it("ignores events of other channels and resets only its own", () => {
    const { send, order, view, root } = setup();
    send({ bar: "mine" });
    send({ bar: "theirs" }, "elsewhere");
    nextFrame();
    expect(order()).toEqual(["mine"]);
    expect(root.dataset.count).toBe("1");
    view.onReset("elsewhere", "history-exceeded");
    nextFrame();
    expect(order()).toEqual(["mine"]);
    view.onReset("c", "history-exceeded");
    nextFrame();
    expect(order()).toEqual([]);
    expect(/** @type {HTMLElement} */ (root.querySelector(".ssew-empty")).hidden).toBe(false);
    send({ bar: "snap", state: "done" });
    nextFrame();
    expect(order()).toEqual(["snap"]);
  });

  it("says the channel closed and keeps the bars", () => {
    const { send, view, root, order } = setup();
    send({});
    nextFrame();
    view.onClose("c", "deleted");
    expect(root.querySelector(".ssew-closed")?.textContent).toBe("channel closed");
    expect(/** @type {HTMLElement} */ (root.querySelector(".ssew-foot")).hidden).toBe(false);
    expect(order()).toEqual(["b1"]);
  });

  it("keeps at most MAX_BARS bars, dropping the oldest finished ones", () => {
    const { send, root, order } = setup();
    send({ bar: "main" });
    for (let i = 0; i < MAX_BARS + 10; i += 1) send({ bar: `k${i}`, parent: "main", state: "done" });
    nextFrame();
    const shown = order();
    expect(shown).toHaveLength(MAX_BARS);
    expect(shown[0]).toBe("main");
    expect(shown.at(-1)).toBe(`k${MAX_BARS + 9}`);
    expect(shown).not.toContain("k0");
    expect(root.querySelector(".ssew-progress-note")?.textContent).toBe("11 older finished bars not shown");
  });

  it("puts payload text into the DOM as text, never as HTML", () => {
    const { send, root, text } = setup();
    send({ desc: XSS, message: XSS, unit: XSS, phase: XSS, ok: 1, failed: 1, errors: [XSS] });
    send({ bar: XSS, parent: XSS, desc: "x" });
    nextFrame();
    expect(root.querySelector("img")).toBeNull();
    expect(text("b1", "desc")).toBe(XSS);
    expect(text("b1", "msg")).toBe(XSS);
    expect(root.querySelector(".ssew-bar-errors li")?.textContent).toBe(XSS);
    expect(root.querySelectorAll(".ssew-bar")).toHaveLength(2);
  });

  it("destroy() removes its DOM and cancels a pending render", () => {
    const { send, view, el, root } = setup();
    send({});
    view.destroy();
    nextFrame();
    expect(el.children).toHaveLength(0);
    expect(root.querySelector(".ssew-bar")).toBeNull();
    expect(root.dataset.count).toBe("0"); // the render never ran
    send({});
    expect(pending()).toBe(0);
  });
});
