// @vitest-environment happy-dom
import { describe, expect, it, vi } from "vitest";
import { XSS, fakeScroll, meta, mount, useFrames } from "../../test/views-helpers.js";
import { BOTTOM_TOLERANCE, TAIL_LINES, createLogView, formatClock, levelNumber } from "./log.js";

const { nextFrame, pending } = useFrames();

/** @param {Record<string, any>} [options] */
function setup(options = {}) {
  const mounted = mount(createLogView, { channel: "c", ...options });
  const { root, view } = mounted;
  /** @param {Record<string, any> | string} fields @param {string} [channel] */
  const log = (fields, channel = "c") =>
    view.onEvent("log", typeof fields === "string" ? { level: "INFO", logger: "app", message: fields } : fields, meta(channel));
  const rows = () => /** @type {HTMLElement[]} */ ([...root.querySelectorAll(".ssew-log-line")]);
  const messages = () => rows().map((r) => r.querySelector(".ssew-log-msg")?.textContent);
  const q = (/** @type {string} */ sel) => /** @type {HTMLElement} */ (root.querySelector(sel));
  const list = q(".ssew-log-lines");
  return { ...mounted, log, rows, messages, q, list };
}

/** @param {HTMLElement} el @param {string} value @param {string} type */
function userSets(el, value, type) {
  /** @type {any} */ (el).value = value;
  el.dispatchEvent(new Event(type));
}

describe("levelNumber / formatClock", () => {
  it.each([
    ["DEBUG", undefined, 10], ["info", undefined, 20], ["WARN", undefined, 30], ["CRITICAL", undefined, 50],
    ["NOTICE", 25, 25], ["NOTICE", undefined, 20], ["Level 5", undefined, 5], [35, undefined, 35], [undefined, undefined, 20],
  ])("levelNumber(%s, %s) is %s", (level, levelno, expected) => {
    expect(levelNumber(level, levelno)).toBe(expected);
  });

  it("formats local time with milliseconds", () => {
    const at = new Date(2026, 10, 21, 9, 5, 7, 42).getTime() / 1000;
    expect(formatClock(at)).toBe("09:05:07.042");
    expect(formatClock(Number.NaN)).toBe("");
  });
});

describe("createLogView", () => {
  it("has a root that says what it is, its status and its event count", () => {
    const { root, view, q } = setup();
    expect(root.className).toBe("ssew-root ssew-log");
    expect(root.dataset.widget).toBe("log");
    expect(view.events).toEqual(["log"]);
    view.setStatus("live");
    expect(root.dataset.status).toBe("live");
    expect(q(".ssew-log-toolbar select.ssew-log-level")).not.toBeNull();
    expect(q(".ssew-log-toolbar input.ssew-log-search").getAttribute("type")).toBe("search");
    expect(setup({ event: "audit" }).view.events).toEqual(["audit"]);
  });

  it("draws a line with time, level, logger, message only when the frame runs", () => {
    const { log, rows, root, q } = setup();
    const time = new Date(2026, 10, 21, 13, 4, 5, 6).getTime() / 1000;
    log({ level: "WARNING", logger: "trainer", message: "lr too high\nreducing", time });
    expect(rows()).toHaveLength(0);
    expect(root.dataset.count).toBe("0");
    nextFrame();
    const [row] = rows();
    expect(root.dataset.count).toBe("1");
    expect(row.dataset.level).toBe("WARNING");
    expect(row.querySelector(".ssew-log-time")?.textContent).toBe("13:04:05.006");
    expect(row.querySelector(".ssew-log-levelname")?.textContent).toBe("WARNING");
    expect(row.querySelector(".ssew-log-logger")?.textContent).toBe("trainer");
    expect(row.querySelector(".ssew-log-msg")?.textContent).toBe("lr too high\nreducing");
    expect(q(".ssew-log-count").textContent).toBe("1 line");
  });

  it("takes the time from meta when the payload has none", () => {
    const { view, rows } = setup();
    view.onEvent("log", { level: "INFO", message: "x" }, meta("c", new Date(2026, 0, 1, 1, 2, 3, 400).getTime() / 1000));
    nextFrame();
    expect(rows()[0].querySelector(".ssew-log-time")?.textContent).toBe("01:02:03.400");
  });

  it("collapses an exception under its last line", () => {
    const { log, rows } = setup();
    const exception = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: bad\n";
    log({ level: "ERROR", logger: "job", message: "step failed", exception });
    nextFrame();
    const details = /** @type {HTMLDetailsElement} */ (rows()[0].querySelector("details.ssew-log-exc"));
    expect(details.open).toBe(false);
    expect(details.querySelector("summary")?.textContent).toBe("ValueError: bad");
    expect(details.querySelector("pre")?.textContent).toBe(exception);
    expect(rows()[0].classList.contains("ssew-sev-error")).toBe(true);
  });

  it("filters by level, from the option and from the select, without reducing data-count", () => {
    const { log, messages, view, q, root } = setup({ level: "WARNING" });
    log({ level: "DEBUG", message: "d" });
    log({ level: "INFO", message: "i" });
    log({ level: "WARNING", message: "w" });
    log({ level: "ERROR", message: "e" });
    log({ level: "NOTICE", levelno: 25, message: "n" });
    log({ level: "TRACE", message: "unknown name: INFO" });
    nextFrame();
    expect(messages()).toEqual(["w", "e"]);
    expect(root.dataset.count).toBe("6");
    expect(q(".ssew-log-count").textContent).toBe("2 of 6 lines");
    expect(/** @type {HTMLSelectElement} */ (q(".ssew-log-level")).value).toBe("WARNING");
    userSets(q(".ssew-log-level"), "INFO", "change");
    nextFrame();
    expect(messages()).toEqual(["i", "w", "e", "n", "unknown name: INFO"]);
    view.setOptions({ level: "ERROR" });
    nextFrame();
    expect(messages()).toEqual(["e"]);
    view.setOptions({ level: 25 });
    nextFrame();
    expect(messages()).toEqual(["w", "e", "n"]);
    expect(/** @type {HTMLSelectElement} */ (q(".ssew-log-level")).value).toBe("25");
  });

  it("searches message and logger, ignoring case, from the option and as the user types", () => {
    const { log, messages, q, view } = setup({ search: "LOSS" });
    log({ level: "INFO", logger: "trainer", message: "loss 0.3" });
    log({ level: "INFO", logger: "data", message: "loaded 12 files" });
    log({ level: "INFO", logger: "Loss.Tracker", message: "ok" });
    nextFrame();
    expect(messages()).toEqual(["loss 0.3", "ok"]);
    expect(/** @type {HTMLInputElement} */ (q(".ssew-log-search")).value).toBe("LOSS");
    userSets(q(".ssew-log-search"), "DATA", "input");
    nextFrame();
    expect(messages()).toEqual(["loaded 12 files"]);
    log({ level: "INFO", logger: "x", message: "metadata ready" });
    log({ level: "INFO", logger: "x", message: "skipped" });
    nextFrame();
    expect(messages()).toEqual(["loaded 12 files", "metadata ready"]);
    userSets(q(".ssew-log-search"), "nothing like it", "input");
    nextFrame();
    expect(q(".ssew-log-empty").hidden).toBe(false);
    expect(q(".ssew-log-empty").textContent).toBe("no line matches the filter");
    view.setOptions({ search: "" });
    nextFrame();
    expect(messages()).toHaveLength(5);
  });

  it("keeps max_lines lines, drops the oldest from the top and says how many", () => {
    const { log, messages, q, rows } = setup({ max_lines: 100 });
    for (let i = 0; i < 60; i += 1) log(`m${i}`);
    nextFrame();
    const kept = rows()[50];
    for (let i = 60; i < 150; i += 1) log(`m${i}`);
    nextFrame();
    expect(messages()).toHaveLength(100);
    expect(messages()[0]).toBe("m50");
    expect(messages()[99]).toBe("m149");
    expect(rows()[0]).toBe(kept); // appended and trimmed, not redrawn
    expect(q(".ssew-log-dropped").hidden).toBe(false);
    expect(q(".ssew-log-dropped").textContent).toBe("50 older lines dropped (max_lines 100)");
    expect(q(".ssew-log-count").textContent).toBe("100 lines");
  });

  it("applies a smaller max_lines at once", () => {
    const { log, messages, view, q } = setup();
    for (let i = 0; i < 30; i += 1) log(`m${i}`);
    nextFrame();
    view.setOptions({ max_lines: 10 });
    nextFrame();
    expect(messages()).toEqual(Array.from({ length: 10 }, (_, i) => `m${20 + i}`));
    expect(q(".ssew-log-dropped").textContent).toBe("20 older lines dropped (max_lines 10)");
  });

  it("builds only the tail it shows when 10,000 arrive between two frames", () => {
    const { log, messages, q } = setup({ max_lines: 1000 });
    const made = vi.spyOn(document, "createElement");
    for (let i = 0; i < 10_000; i += 1) log(`m${i}`);
    expect(made).not.toHaveBeenCalled();
    nextFrame();
    expect(messages()).toHaveLength(TAIL_LINES);
    expect(messages()[0]).toBe(`m${10_000 - TAIL_LINES}`);
    expect(made.mock.calls.filter(([tag]) => tag === "div")).toHaveLength(TAIL_LINES);
    expect(q(".ssew-log-count").textContent).toBe("1000 lines");
    made.mockRestore();
  });

  it("keeps only the tail in the DOM while following, and shows every kept line once paused", () => {
    const { log, messages, list, q } = setup({ max_lines: 1000 });
    fakeScroll(list, { scrollHeight: 5000, clientHeight: 300 });
    for (let i = 0; i < 400; i += 1) log(`m${i}`);
    nextFrame();
    for (let i = 400; i < 600; i += 1) log(`m${i}`);
    nextFrame();
    expect(messages()).toEqual(Array.from({ length: TAIL_LINES }, (_, i) => `m${600 - TAIL_LINES + i}`));
    q(".ssew-log-follow").click(); // pause: the lines above come back, in order
    expect(messages()).toEqual(Array.from({ length: 600 }, (_, i) => `m${i}`));
    for (let i = 600; i < 610; i += 1) log(`m${i}`);
    nextFrame();
    expect(messages()).toHaveLength(600); // paused: the DOM stands still
    expect(q(".ssew-log-new").textContent).toBe("↓ 10 new");
    q(".ssew-log-new").click();
    expect(messages()).toEqual(Array.from({ length: TAIL_LINES }, (_, i) => `m${610 - TAIL_LINES + i}`));
  });

  it("follows the tail while at the bottom, stops when the user scrolls up, resumes with ↓ N new", () => {
    const { log, list, q } = setup();
    const size = { scrollHeight: 1000, clientHeight: 300 };
    const user = fakeScroll(list, size);
    const follow = q(".ssew-log-follow");
    const fresh = q(".ssew-log-new");
    log("a");
    nextFrame();
    expect(list.scrollTop).toBe(700); // the bottom: scrollHeight - clientHeight
    expect(follow.getAttribute("aria-pressed")).toBe("true");

    user.userScrollTo(1000 - 300 - BOTTOM_TOLERANCE); // a few pixels short still counts
    expect(follow.getAttribute("aria-pressed")).toBe("true");
    user.userScrollTo(200);
    expect(follow.getAttribute("aria-pressed")).toBe("false");
    size.scrollHeight = 1100;
    for (const m of ["b", "c", "d"]) log(m);
    nextFrame();
    expect(list.scrollTop).toBe(200); // stays where the user reads
    expect(fresh.hidden).toBe(false);
    expect(fresh.textContent).toBe("↓ 3 new");

    fresh.click();
    expect(list.scrollTop).toBe(800);
    expect(fresh.hidden).toBe(true);
    expect(follow.getAttribute("aria-pressed")).toBe("true");
    size.scrollHeight = 1200;
    log("e");
    nextFrame();
    expect(list.scrollTop).toBe(900);
  });

  it("resumes following when the user scrolls back to the bottom, and toggles with the button", () => {
    const { log, list, q } = setup();
    const size = { scrollHeight: 1000, clientHeight: 300 };
    const user = fakeScroll(list, size);
    const follow = q(".ssew-log-follow");
    user.userScrollTo(100);
    log("a");
    nextFrame();
    expect(q(".ssew-log-new").textContent).toBe("↓ 1 new");
    user.userScrollTo(700);
    expect(follow.getAttribute("aria-pressed")).toBe("true");
    expect(q(".ssew-log-new").hidden).toBe(true);

    follow.click(); // pause at the bottom
    expect(follow.getAttribute("aria-pressed")).toBe("false");
    size.scrollHeight = 1400;
    log("b");
    nextFrame();
    expect(list.scrollTop).toBe(700);
    follow.click();
    expect(list.scrollTop).toBe(1100);
  });

  it("ignores other channels, resets its own, says when the channel closed", () => {
    const { log, messages, view, root, q } = setup();
    log("mine");
    log("theirs", "other");
    nextFrame();
    expect(messages()).toEqual(["mine"]);
    expect(root.dataset.count).toBe("1");
    view.onReset("other", "history-exceeded");
    nextFrame();
    expect(messages()).toEqual(["mine"]);
    view.onReset("c", "history-exceeded");
    nextFrame();
    expect(messages()).toEqual([]);
    expect(q(".ssew-log-empty").textContent).toBe("waiting for log lines…");
    log("after");
    view.onClose("c", "deleted");
    nextFrame();
    expect(messages()).toEqual(["after"]);
    expect(q(".ssew-closed").textContent).toBe("channel closed");
  });

  it("puts payload text into the DOM as text, never as HTML", () => {
    const { log, rows, root } = setup();
    log({ level: XSS, logger: XSS, message: XSS, exception: `${XSS}\n${XSS}` });
    nextFrame();
    expect(root.querySelector("img")).toBeNull();
    const [row] = rows();
    expect(row.querySelector(".ssew-log-msg")?.textContent).toBe(XSS);
    expect(row.querySelector(".ssew-log-logger")?.textContent).toBe(XSS);
    expect(row.querySelector(".ssew-log-levelname")?.textContent).toBe(XSS);
    expect(row.querySelector("summary")?.textContent).toBe(XSS);
    expect(row.dataset.level).toBe(XSS);
  });

  it("sets the list height from the option", () => {
    const { view, list } = setup({ height: "120px" });
    expect(list.style.height).toBe("120px");
    view.setOptions({ height: "50vh" });
    expect(list.style.height).toBe("50vh");
    expect(setup().list.style.height).toBe("300px");
  });

  it("destroy() removes its DOM and cancels a pending render", () => {
    const { log, view, el, root } = setup();
    log("x");
    view.destroy();
    nextFrame();
    expect(el.children).toHaveLength(0);
    expect(root.dataset.count).toBe("0");
    log("y");
    expect(pending()).toBe(0);
  });
});
