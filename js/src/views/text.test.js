// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { XSS, fakeScroll, meta, mount, useFrames } from "../../test/views-helpers.js";
import { CHUNK_CHARS, MAX_STREAMS, createTextView } from "./text.js";

const { nextFrame, pending } = useFrames();

/** @param {Record<string, any>} [options] */
function setup(options = {}) {
  const mounted = mount(createTextView, { channel: "c", ...options });
  const { root, view } = mounted;
  /** @param {string} delta @param {string} [stream] @param {string} [channel] */
  const say = (delta, stream = "answer", channel = "c") => view.onEvent("text", { stream, delta }, meta(channel));
  /** @param {string} stream */
  const block = (stream) => /** @type {HTMLElement} */ (
    [...root.querySelectorAll(".ssew-text-stream")].find((b) => /** @type {HTMLElement} */ (b).dataset.stream === stream));
  /** @param {string} stream */
  const body = (stream) => /** @type {HTMLElement} */ (block(stream).querySelector(".ssew-text-body"));
  /** The stream's text as shown; the body holds nothing else. @param {string} stream */
  const shown = (stream) => {
    const text = body(stream).textContent;
    expect(textNodes(body(stream)).map((n) => n.data).join("")).toBe(text);
    return text;
  };
  const names = () => [...root.querySelectorAll(".ssew-text-stream")].map((b) => /** @type {HTMLElement} */ (b).dataset.stream);
  return { ...mounted, say, block, body, shown, names };
}

/** The text nodes of a stream's body, which holds blocks of text nodes and nothing else. @param {HTMLElement} body */
function textNodes(body) {
  const blocks = [...body.childNodes];
  expect(blocks.every((b) => /** @type {HTMLElement} */ (b).className === "ssew-text-chunk")).toBe(true);
  const nodes = blocks.flatMap((b) => [...b.childNodes]);
  expect(nodes.every((n) => n.nodeType === 3)).toBe(true);
  return /** @type {Text[]} */ (nodes);
}

describe("createTextView", () => {
  it("has a root that says what it is, its status and its event count", () => {
    const { root, view } = setup();
    expect(root.className).toBe("ssew-root ssew-text");
    expect(root.dataset.widget).toBe("text");
    expect(view.events).toEqual(["text"]);
    view.setStatus("relay");
    expect(root.dataset.status).toBe("relay");
    expect(setup({ event: "tokens" }).view.events).toEqual(["tokens"]);
  });

  it("appends deltas in order, one text node per frame, only when the frame runs", () => {
    const { say, shown, body, root, block } = setup();
    say("Once");
    say(" upon");
    expect(root.querySelector(".ssew-text-stream")).toBeNull();
    nextFrame();
    expect(shown("answer")).toBe("Once upon");
    expect(block("answer").dataset.chars).toBe("9");
    const first = textNodes(body("answer"))[0];
    say(" a");
    say(" time");
    nextFrame();
    expect(shown("answer")).toBe("Once upon a time");
    const nodes = textNodes(body("answer"));
    expect(nodes).toHaveLength(2);
    expect(nodes[0]).toBe(first); // appended after, not set again
    expect(nodes[1].data).toBe(" a time");
    expect(root.dataset.count).toBe("4");
  });

  it("empties a stream on reset, also with a delta in the same event", () => {
    const { say, shown, view, block } = setup();
    say("draft one");
    nextFrame();
    view.onEvent("text", { stream: "answer", reset: true }, meta());
    nextFrame();
    expect(shown("answer")).toBe("");
    expect(block("answer").dataset.chars).toBe("0");
    say("final");
    view.onEvent("text", { stream: "answer", reset: true, delta: "Final" }, meta());
    say(" answer");
    nextFrame();
    expect(shown("answer")).toBe("Final answer");
  });

  it("shows every stream in its own labelled block, in order of appearance", () => {
    const { say, names, block, shown } = setup();
    say("thinking…", "reasoning");
    nextFrame();
    const label = (/** @type {string} */ s) => /** @type {HTMLElement} */ (block(s).querySelector(".ssew-text-label"));
    expect(label("reasoning").hidden).toBe(true); // one stream needs no name
    say("42", "answer");
    say(" more", "reasoning");
    nextFrame();
    expect(names()).toEqual(["reasoning", "answer"]);
    expect(label("reasoning").hidden).toBe(false);
    expect(label("answer").textContent).toBe("answer");
    expect(shown("reasoning")).toBe("thinking… more");
    expect(shown("answer")).toBe("42");
  });

  it("shows one stream with `stream`, keeping the others for later, counting every event", () => {
    const { say, names, view, shown, root, block } = setup({ stream: "answer" });
    say("hidden thoughts", "reasoning");
    say("yes", "answer");
    nextFrame();
    expect(names()).toEqual(["answer"]);
    expect(root.dataset.count).toBe("2");
    say(" and more", "reasoning");
    nextFrame();
    view.setOptions({ stream: "reasoning" });
    nextFrame();
    expect(names()).toEqual(["reasoning"]);
    expect(shown("reasoning")).toBe("hidden thoughts and more");
    view.setOptions({ stream: null });
    nextFrame();
    expect(names()).toEqual(["reasoning", "answer"]);
    expect(/** @type {HTMLElement} */ (block("answer").querySelector(".ssew-text-label")).hidden).toBe(false);
  });

  it("keeps the last max_chars characters and marks the cut", () => {
    const { say, shown, block, body } = setup({ max_chars: 10 });
    say("0123456");
    nextFrame();
    const note = /** @type {HTMLElement} */ (block("answer").querySelector(".ssew-text-truncated"));
    expect(note.hidden).toBe(true);
    say("789ab");
    nextFrame();
    expect(shown("answer")).toBe("23456789ab");
    expect(block("answer").dataset.chars).toBe("10");
    expect(note.hidden).toBe(false);
    expect(note.textContent).toBe("… 2 earlier characters dropped (max_chars 10)");
    say("cdefghijklmnop"); // longer than the limit in one frame
    nextFrame();
    expect(shown("answer")).toBe("ghijklmnop");
    expect(note.textContent).toBe("… 16 earlier characters dropped (max_chars 10)");
  });

  it("cuts a long stream into blocks at line ends, appending to the last block only", () => {
    const { say, shown, body } = setup();
    const line = `${"x".repeat(99)}\n`;
    let sent = "";
    for (let frame = 0; frame < 50; frame += 1) {
      for (let i = 0; i < 3; i += 1) {
        say(line);
        sent += line;
      }
      nextFrame();
    }
    say("no line end yet");
    sent += "no line end yet";
    nextFrame();
    expect(shown("answer")).toBe(sent);
    const blocks = [...body("answer").children].map((b) => b.textContent ?? "");
    expect(blocks.length).toBe(Math.ceil(sent.length / CHUNK_CHARS));
    for (const block of blocks.slice(0, -1)) {
      expect(block.endsWith("\n")).toBe(true);
      expect(block.length).toBeGreaterThanOrEqual(CHUNK_CHARS);
      expect(block.length).toBeLessThan(CHUNK_CHARS + line.length);
    }
    const before = body("answer").firstElementChild;
    say("!");
    nextFrame();
    expect(body("answer").firstElementChild).toBe(before);
  });

  it("drops whole blocks from the head, then cuts within one", () => {
    const { say, shown, body, block } = setup({ max_chars: CHUNK_CHARS * 2 });
    const line = `${"y".repeat(49)}\n`;
    let sent = "";
    for (let i = 0; i < 200; i += 1) {
      say(line);
      sent += line;
      if (i % 10 === 9) nextFrame();
    }
    nextFrame();
    expect(shown("answer")).toBe(sent.slice(-CHUNK_CHARS * 2));
    expect(block("answer").dataset.chars).toBe(String(CHUNK_CHARS * 2));
    expect(body("answer").children.length).toBeLessThanOrEqual(3);
  });

  it("stays bounded when many deltas come without a frame (hidden tab)", () => {
    const { say, shown, block } = setup({ max_chars: 100 });
    for (let i = 0; i < 1000; i += 1) say(`${i % 10}`);
    nextFrame();
    expect(shown("answer")).toBe("0123456789".repeat(10));
    expect(block("answer").dataset.chars).toBe("100");
  });

  it("applies a smaller max_chars at once", () => {
    const { say, shown, view } = setup();
    say("abcdefghij");
    nextFrame();
    view.setOptions({ max_chars: 4 });
    nextFrame();
    expect(shown("answer")).toBe("ghij");
  });

  it("sets a fixed height and follows the end until the reader scrolls up", () => {
    const { say, body, view } = setup({ height: "200px" });
    say("start");
    nextFrame();
    const b = body("answer");
    expect(b.style.height).toBe("200px");
    const size = { scrollHeight: 500, clientHeight: 200 };
    const user = fakeScroll(b, size);
    say(" more");
    nextFrame();
    expect(b.scrollTop).toBe(300);
    user.userScrollTo(50);
    size.scrollHeight = 600;
    say(" and more");
    nextFrame();
    expect(b.scrollTop).toBe(50);
    user.userScrollTo(400);
    size.scrollHeight = 700;
    say(" end");
    nextFrame();
    expect(b.scrollTop).toBe(500);
    view.setOptions({ height: "auto" });
    expect(b.style.height).toBe("");
  });

  it("restarts the caret on each frame with new text", () => {
    const { say, block, view } = setup();
    say("a");
    nextFrame();
    expect(block("answer").dataset.tick).toBe("a");
    say("b");
    nextFrame();
    expect(block("answer").dataset.tick).toBe("b");
    view.onEvent("text", { stream: "answer", reset: true }, meta());
    nextFrame();
    expect(block("answer").dataset.tick).toBe("b"); // no new text, no restart
  });

  it("ignores other channels, resets its own, says when the channel closed", () => {
    const { say, names, view, root } = setup();
    say("mine");
    say("theirs", "answer", "other");
    nextFrame();
    expect(root.dataset.count).toBe("1");
    view.onReset("other", "deleted");
    nextFrame();
    expect(names()).toEqual(["answer"]);
    view.onReset("c", "history-exceeded");
    nextFrame();
    expect(names()).toEqual([]);
    expect(/** @type {HTMLElement} */ (root.querySelector(".ssew-empty")).hidden).toBe(false);
    say("again");
    view.onClose("c", "deleted");
    nextFrame();
    expect(names()).toEqual(["answer"]);
    expect(root.querySelector(".ssew-closed")?.textContent).toBe("channel closed");
  });

  it("keeps at most MAX_STREAMS streams", () => {
    const { say, names } = setup();
    for (let i = 0; i <= MAX_STREAMS; i += 1) say("x", `s${i}`);
    nextFrame();
    expect(names()).toHaveLength(MAX_STREAMS);
    expect(names()[0]).toBe("s1");
  });

  it("puts payload text into the DOM as text, never as HTML", () => {
    const { say, shown, root, block } = setup();
    say(XSS, XSS);
    say(XSS, "plain");
    nextFrame();
    expect(root.querySelector("img")).toBeNull();
    expect(shown(XSS)).toBe(XSS);
    expect(block(XSS).querySelector(".ssew-text-label")?.textContent).toBe(XSS);
    expect(shown("plain")).toBe(XSS);
  });

  it("destroy() removes its DOM and cancels a pending render", () => {
    const { say, view, el, root } = setup();
    say("x");
    view.destroy();
    nextFrame();
    expect(el.children).toHaveLength(0);
    expect(root.dataset.count).toBe("0");
    say("y");
    expect(pending()).toBe(0);
  });
});
