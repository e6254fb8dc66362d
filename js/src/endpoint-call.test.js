// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  EndpointError,
  RESUME_DELAYS_MS,
  callEndpoint,
  callStorageKey,
  cancelCall,
  createEventStreamParser,
  describeEndpoint,
  loadStoredCall,
  resumeCall,
} from "./endpoint-call.js";

const HUB = "http://hub.test/sse-widgets/";
const endpoint = { kind: "external", url: HUB, token: "tok" };

/**
 * A response body the test writes to: `push(text)` a chunk, `end()`, `fail()` (the network).
 */
function body() {
  /** @type {ReadableStreamDefaultController<Uint8Array>} */
  let controller;
  let cancelled = false;
  const encoder = new TextEncoder();
  const stream = new ReadableStream({
    start(c) {
      controller = c;
    },
    cancel() {
      cancelled = true;
    },
  });
  return {
    stream,
    /** @param {string} text */
    push: (text) => controller.enqueue(encoder.encode(text)),
    end: () => controller.close(),
    fail: () => controller.error(new TypeError("network error")),
    get cancelled() {
      return cancelled;
    },
  };
}

/**
 * @param {ReadableStream | null} stream
 * @param {{status?: number, headers?: Record<string, string>, json?: any}} [how]
 */
function response(stream, how = {}) {
  const status = how.status ?? 200;
  const headers = new Map(Object.entries(how.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: "",
    headers: { get: (/** @type {string} */ name) => headers.get(name.toLowerCase()) ?? null },
    body: stream,
    json: async () => {
      if (how.json === undefined) throw new SyntaxError("not JSON");
      return how.json;
    },
  };
}

/** A frame as the hub writes it. @param {number} id @param {string | null} event @param {any} data */
const frame = (id, event, data) => `id: ${id}\n${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`;

/** Let stream reads and promise callbacks run. */
async function flush() {
  for (let i = 0; i < 20; i += 1) await new Promise((r) => setTimeout(r, 0));
}

/** @type {ReturnType<typeof vi.fn>} */
let fetchMock;
beforeEach(() => {
  fetchMock = vi.fn();
  vi.stubGlobal("fetch", fetchMock);
  sessionStorage.clear();
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe("createEventStreamParser", () => {
  /** @param {string[]} chunks */
  const parse = (chunks) => {
    /** @type {any[]} */
    const got = [];
    const parser = createEventStreamParser((e) => got.push(e));
    for (const chunk of chunks) parser.feed(chunk);
    return { got, parser };
  };

  const STREAM =
    "\ufeff: ping\r\nid: 1\r\ndata: first\r\ndata:  two spaces\r\n\r\n" + // CRLF, multi-line, one space stripped
    "id: 2\revent: progress\rdata: {\"value\": 3}\r\r" + // CR only
    ": comment between\nid: 3\ndata\n\n" + // LF, a `data` field without colon: empty data
    "id: 4\nevent: ignored-no-data\n\n" + // no data: nothing dispatched, but the id counts
    "retry: 1500\nid: bad\u0000id\nfoo: bar\ndata: last\n\n" + // unknown field, NUL id ignored
    "data: never finished";
  const EXPECTED = [
    { event: "message", data: "first\n two spaces", id: "1" },
    { event: "progress", data: '{"value": 3}', id: "2" },
    { event: "message", data: "", id: "3" },
    { event: "message", data: "last", id: "4" },
  ];

  it("parses a stream fed whole", () => {
    const { got, parser } = parse([STREAM]);
    expect(got).toEqual(EXPECTED);
    expect(parser.lastEventId).toBe("4");
    expect(parser.retry).toBe(1500);
  });

  it("gives the same events however the stream is cut in two", () => {
    for (let i = 0; i <= STREAM.length; i += 1) {
      expect(parse([STREAM.slice(0, i), STREAM.slice(i)]).got, `cut at ${i}`).toEqual(EXPECTED);
    }
  });

  it("gives the same events fed one character at a time", () => {
    expect(parse([...STREAM]).got).toEqual(EXPECTED);
  });

  it("takes an LF after a chunk ending in CR as the end of a CRLF, not a blank line", () => {
    expect(parse(["data: a\r", "\ndata: b\r\n\r\n"]).got).toEqual([{ event: "message", data: "a\nb", id: "" }]);
    // and two CRs are two line ends, even across chunks
    expect(parse(["data: a\r", "\r"]).got).toEqual([{ event: "message", data: "a", id: "" }]);
  });

  it("strips only one leading BOM, even when the first chunk is just the BOM", () => {
    expect(parse(["\ufeff", "\ufeffdata: x\n\n"]).got).toEqual([]); // the second BOM starts a field name
    expect(parse(["\ufeff", "data: x\n\n"]).got).toEqual([{ event: "message", data: "x", id: "" }]);
  });

  it("keeps the last event id across reset (a new response), forgetting a partial event", () => {
    const { got, parser } = parse(["id: 7\ndata: a\n\ndata: partial"]);
    parser.reset();
    parser.feed("data: b\n\n");
    expect(got.map((e) => [e.data, e.id])).toEqual([["a", "7"], ["b", ""]]);
    expect(parser.lastEventId).toBe("");
  });
});

describe("callEndpoint", () => {
  /** @param {Partial<Parameters<typeof callEndpoint>[0]>} [extra] */
  function start(extra = {}) {
    /** @type {any[]} */
    const events = [];
    /** @type {any[]} */
    const starts = [];
    const promise = callEndpoint({
      endpoint,
      name: "summarize",
      args: { text: "hi", sentences: 2 },
      onEvent: (e) => events.push(e),
      onStart: (info) => starts.push(info),
      ...extra,
    });
    return { promise, events, starts };
  }

  it("POSTs the arguments as JSON and resolves with the complete event's value", async () => {
    const b = body();
    fetchMock.mockResolvedValueOnce(response(b.stream, { headers: { "X-SSE-Widgets-Call": "c1", Location: "/x" } }));
    const { promise, events, starts } = start({ resumeWindow: 60 });
    b.push(frame(1, "progress", { bar: "b", value: 1, total: 2 }) + frame(2, null, { n: 1 }));
    b.push(frame(3, "log", { level: "INFO", message: "half" }).slice(0, 9)); // cut inside a frame
    b.push(frame(3, "log", { level: "INFO", message: "half" }).slice(9) + frame(4, "text", { stream: "text", delta: "ab" }));
    b.push(frame(5, "complete", { answer: 42 }));
    await expect(promise).resolves.toEqual({ status: "complete", value: { answer: 42 } });

    const [url, init] = fetchMock.mock.calls[0];
    expect(String(url)).toBe(`${HUB}api/endpoints/summarize?resume_window=60`);
    expect(init.method).toBe("POST");
    expect(init.headers["Content-Type"]).toBe("application/json");
    expect(init.headers.Authorization).toBe("token tok");
    expect(JSON.parse(init.body)).toEqual({ text: "hi", sentences: 2 });
    expect(starts).toEqual([{ call: "c1", location: "/x" }]);
    expect(events).toEqual([
      { event: "progress", data: { bar: "b", value: 1, total: 2 }, id: "1" },
      { event: "message", data: { n: 1 }, id: "2" },
      { event: "log", data: { level: "INFO", message: "half" }, id: "3" },
      { event: "text", data: { stream: "text", delta: "ab" }, id: "4" },
    ]);
    expect(b.cancelled).toBe(true); // reading stopped at the terminal event
  });

  it("sends no resume_window without one, and encodes the endpoint name", async () => {
    const b = body();
    fetchMock.mockResolvedValueOnce(response(b.stream));
    const promise = callEndpoint({ endpoint, name: "a b" });
    b.push(frame(1, "complete", null));
    await expect(promise).resolves.toEqual({ status: "complete", value: null });
    expect(String(fetchMock.mock.calls[0][0])).toBe(`${HUB}api/endpoints/a%20b`);
    expect(JSON.parse(fetchMock.mock.calls[0][1].body)).toEqual({});
  });

  it("resolves with the error event's type and message", async () => {
    const b = body();
    fetchMock.mockResolvedValueOnce(response(b.stream, { headers: { "X-SSE-Widgets-Call": "c1" } }));
    const { promise } = start();
    b.push(': ping\n\nid: 1\nevent: error\ndata: {"type": "ValueError", "message": "bad text"}\n\n');
    b.push(frame(2, null, "after the end: ignored"));
    await expect(promise).resolves.toEqual({ status: "error", type: "ValueError", message: "bad text" });
  });

  it("rejects with the hub's JSON message and status when refused (429)", async () => {
    fetchMock.mockResolvedValueOnce(response(null, { status: 429, json: { error: "too many concurrent calls (4)", status: 429 } }));
    const { promise, starts } = start({ storageKey: "k" });
    const error = await promise.catch((e) => e);
    expect(error).toBeInstanceOf(EndpointError);
    expect(error.status).toBe(429);
    expect(error.message).toBe("too many concurrent calls (4)");
    expect(starts).toEqual([]);
    expect(sessionStorage.getItem("k")).toBeNull();
  });

  it("stops reading when the signal aborts, and rejects with the abort", async () => {
    const b = body();
    fetchMock.mockResolvedValueOnce(response(b.stream, { headers: { "X-SSE-Widgets-Call": "c1" } }));
    const controller = new AbortController();
    const { promise, events } = start({ signal: controller.signal, resumeWindow: 30 });
    b.push(frame(1, null, 1));
    await flush();
    controller.abort();
    const error = await promise.catch((e) => e);
    expect(error.name).toBe("AbortError");
    expect(b.cancelled).toBe(true);
    expect(events.map((e) => e.data)).toEqual([1]);
    expect(fetchMock).toHaveBeenCalledTimes(1); // an abort is not a broken stream: no resume
  });

  it("resumes a broken stream from the last id it saw, losing and repeating nothing", async () => {
    const first = body();
    const second = body();
    fetchMock
      .mockResolvedValueOnce(response(first.stream, { headers: { "X-SSE-Widgets-Call": "c1" } }))
      .mockResolvedValueOnce(response(second.stream));
    const { promise, events } = start({ resumeWindow: 60, storageKey: "k" });
    first.push(frame(1, null, "a") + frame(2, null, "b") + "id: 3\ndata: \"c-cut");
    await flush();
    first.fail();
    await new Promise((r) => setTimeout(r, RESUME_DELAYS_MS[0] + 50));
    expect(fetchMock).toHaveBeenCalledTimes(2);
    const [url, init] = fetchMock.mock.calls[1];
    expect(String(url)).toBe(`${HUB}api/endpoints/summarize/calls/c1/events`);
    expect(init.method).toBe("GET");
    expect(init.headers["Last-Event-ID"]).toBe("2");
    second.push(frame(3, null, "c") + frame(4, "complete", "done"));
    await expect(promise).resolves.toEqual({ status: "complete", value: "done" });
    expect(events.map((e) => e.data)).toEqual(["a", "b", "c"]);
  });

  it("without a resume window, a broken stream is an error (the hub cancelled the call)", async () => {
    const b = body();
    fetchMock.mockResolvedValueOnce(response(b.stream, { headers: { "X-SSE-Widgets-Call": "c1" } }));
    const { promise } = start();
    b.push(frame(1, null, "a"));
    b.end(); // ended with no terminal event
    const error = await promise.catch((e) => e);
    expect(error).toBeInstanceOf(EndpointError);
    expect(error.status).toBe(0);
    expect(error.message).toMatch(/no resume window/);
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });

  it("gives up when the resumed call is gone (404)", async () => {
    const b = body();
    fetchMock
      .mockResolvedValueOnce(response(b.stream, { headers: { "X-SSE-Widgets-Call": "c1" } }))
      .mockResolvedValueOnce(response(null, { status: 404, json: { error: "unknown call c1", status: 404 } }));
    const { promise } = start({ resumeWindow: 5, storageKey: "k" });
    b.end();
    const error = await promise.catch((e) => e);
    expect([error.status, error.message]).toEqual([404, "unknown call c1"]);
    expect(sessionStorage.getItem("k")).toBeNull();
  });

  it("keeps the running call in sessionStorage with the last id, and clears it at the end", async () => {
    const b = body();
    fetchMock.mockResolvedValueOnce(response(b.stream, { headers: { "X-SSE-Widgets-Call": "c7" } }));
    const key = callStorageKey("summarize", "form-1");
    const { promise } = start({ resumeWindow: 60, storageKey: key });
    await flush();
    expect(loadStoredCall(key)).toMatchObject({ name: "summarize", call: "c7", lastEventId: "", url: HUB, resumeWindow: 60 });
    b.push(frame(1, null, 1) + frame(2, null, 2));
    await flush();
    expect(loadStoredCall(key)).toMatchObject({ call: "c7", lastEventId: "2", args: { text: "hi", sentences: 2 } });
    b.push(frame(3, "complete", 3));
    await promise;
    expect(sessionStorage.getItem(key)).toBeNull();
  });
});

describe("resumeCall, cancelCall, describeEndpoint", () => {
  it("resumeCall reads everything when given no last id", async () => {
    const b = body();
    fetchMock.mockResolvedValueOnce(response(b.stream));
    /** @type {any[]} */
    const events = [];
    const promise = resumeCall({ endpoint, name: "summarize", call: "c1", onEvent: (e) => events.push(e.data) });
    b.push(frame(1, null, "a") + frame(2, "error", { type: "Cancelled", message: "cancelled by a viewer" }));
    await expect(promise).resolves.toEqual({ status: "error", type: "Cancelled", message: "cancelled by a viewer" });
    expect(fetchMock.mock.calls[0][1].headers["Last-Event-ID"]).toBeUndefined();
    expect(events).toEqual(["a"]);
  });

  it("resumeCall sends Last-Event-ID when given one, and rejects a gone call with 404", async () => {
    fetchMock.mockResolvedValueOnce(response(null, { status: 404, json: { error: "expired" } }));
    sessionStorage.setItem("k", JSON.stringify({ name: "summarize", call: "c1", lastEventId: "5" }));
    const error = await resumeCall({ endpoint, name: "summarize", call: "c1", lastEventId: "5", storageKey: "k" }).catch((e) => e);
    expect(fetchMock.mock.calls[0][1].headers["Last-Event-ID"]).toBe("5");
    expect([error.status, error.message]).toEqual([404, "expired"]);
    expect(sessionStorage.getItem("k")).toBeNull();
  });

  it("cancelCall DELETEs the call, with Jupyter's _xsrf cookie as X-XSRFToken", async () => {
    document.cookie = "_xsrf=x5rf";
    fetchMock.mockResolvedValueOnce(response(null, { status: 204 }));
    const jupyter = { kind: "jupyter", url: "http://lab.test/a%40b/sse-widgets/", token: "" };
    await expect(cancelCall({ endpoint: jupyter, name: "summarize", call: "c/1" })).resolves.toBe(true);
    const [url, init] = fetchMock.mock.calls[0];
    expect(String(url)).toBe("http://lab.test/a%40b/sse-widgets/api/endpoints/summarize/calls/c%2F1");
    expect(init.method).toBe("DELETE");
    expect(init.headers["X-XSRFToken"]).toBe("x5rf");
    expect(init.headers.Authorization).toBeUndefined();
    expect(init.credentials).toBe("same-origin");
    fetchMock.mockResolvedValueOnce(response(null, { status: 404 }));
    await expect(cancelCall({ endpoint: jupyter, name: "summarize", call: "c1" })).resolves.toBe(false);
  });

  it("describeEndpoint GETs the description (no XSRF on GET) and rejects an unknown endpoint", async () => {
    const info = { name: "summarize", parameters: [] };
    fetchMock.mockResolvedValueOnce(response(null, { json: info }));
    await expect(describeEndpoint({ endpoint, name: "summarize" })).resolves.toEqual(info);
    expect(fetchMock.mock.calls[0][1].method).toBe("GET");
    expect(fetchMock.mock.calls[0][1].headers["X-XSRFToken"]).toBeUndefined();
    fetchMock.mockResolvedValueOnce(response(null, { status: 404, json: { error: "unknown endpoint nope", status: 404 } }));
    await expect(describeEndpoint({ endpoint, name: "nope" })).rejects.toMatchObject({ status: 404, message: "unknown endpoint nope" });
  });
});
