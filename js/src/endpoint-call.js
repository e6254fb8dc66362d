// Calling one of the hub's endpoints from the page: POST the keyword arguments, read the
// answer (a text/event-stream) with fetch, resume it after a broken connection, cancel it.
//
//   const outcome = await callEndpoint({
//     endpoint: directEndpoint(model),       // { kind, url, token } (./source.js)
//     name: "summarize", args: { text, sentences: 3 },
//     resumeWindow: 60,                      // seconds the call survives a lost page
//     storageKey: callStorageKey("summarize", formId), // sessionStorage while it runs
//     signal: controller.signal,
//     onStart({ call }) {}, onEvent({ event, data, id }) {},
//   });
//   // { status: "complete", value } or { status: "error", type, message }
//
// The wire format (docs/http-api.md, "Endpoints"): every frame has `id: <n>`; yielded values
// are `message` events, then `progress`, `log`, `text`, and exactly one terminal `complete`
// or `error` event last. Refusals (4xx / 5xx) come before any stream as JSON.
//
// EventSource cannot POST nor send a token header, so the body is read with a
// ReadableStream reader and parsed here, incrementally, per the WHATWG rules.
//
// Must not: touch the DOM (sessionStorage aside), or know what a form shows.

import { hubRequest, refusalReason } from "./source.js";

/** The response header naming the call (its id in resume and cancel URLs). */
export const CALL_HEADER = "X-SSE-Widgets-Call";
/** Waits before each automatic resume of a broken stream; progress resets the count. */
export const RESUME_DELAYS_MS = [250, 1000, 2000, 4000, 8000];

/** A refused request (`status` 4xx / 5xx), or a stream that broke for good (`status` 0). */
export class EndpointError extends Error {
  /**
   * @param {string} message what went wrong, from the hub when it said
   * @param {number} status the HTTP status; 0 when the network failed
   */
  constructor(message, status) {
    super(message);
    this.name = "EndpointError";
    this.status = status;
  }
}

/**
 * @typedef {object} StreamEvent one dispatched server-sent event
 * @property {string} event the type ("message" when the frame named none)
 * @property {string} data the `data:` lines joined with LF
 * @property {string} id the last event id in force
 *
 * @typedef {object} CallEvent an event of a call, its data parsed
 * @property {string} event "message" (a yielded value) | "progress" | "log" | "text" | ...
 * @property {any} data the JSON value (the raw text if it was not JSON)
 * @property {string} id
 *
 * @typedef {{status: "complete", value: any} | {status: "error", type: string, message: string}} Outcome
 *
 * @typedef {object} StoredCall what sessionStorage holds while a call runs
 * @property {string} name
 * @property {string} call
 * @property {string} lastEventId
 * @property {string} url the hub it runs on
 * @property {number} resumeWindow
 * @property {Record<string, any> | null} args
 */

/**
 * An incremental `text/event-stream` parser (WHATWG HTML, "Parsing an event stream"), fed
 * decoded text in chunks split anywhere.
 *
 * @param {(event: StreamEvent) => void} onEvent called per dispatched event, in order
 * @returns {{ feed: (text: string) => void, reset: () => void, readonly lastEventId: string, readonly retry: number | null }}
 * @example
 *   const parser = createEventStreamParser((e) => console.log(e.event, e.data));
 *   parser.feed("id: 1\r\ndata: hel");
 *   parser.feed("lo\r\n\r\n"); // logs: message hello
 */
export function createEventStreamParser(onEvent) {
  let lastEventId = "";
  /** @type {number | null} */
  let retry = null;
  let atStart = true;
  let skipLF = false;
  let pending = "";
  let data = "";
  let type = "";
  let idBuffer = "";

  const reset = () => {
    // A new response: the spec gives it a fresh line buffer and id buffer; the last event id
    // (what a resume sends) and the retry delay outlive it.
    atStart = true;
    skipLF = false;
    pending = "";
    data = "";
    type = "";
    idBuffer = "";
  };

  const dispatch = () => {
    lastEventId = idBuffer; // even when no event goes out (an id-only frame)
    if (data === "") {
      type = "";
      return;
    }
    const event = { event: type || "message", data: data.slice(0, -1), id: lastEventId };
    data = "";
    type = "";
    onEvent(event);
  };

  const line = (/** @type {string} */ text) => {
    if (text === "") return dispatch();
    if (text[0] === ":") return; // a comment (": ping")
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    if (field === "data") data += `${value}\n`;
    else if (field === "event") type = value;
    else if (field === "id" && !value.includes("\0")) idBuffer = value;
    else if (field === "retry" && /^[0-9]+$/.test(value)) retry = Number(value);
    // any other field is ignored
  };

  return {
    feed(text) {
      if (!text) return;
      if (atStart) {
        atStart = false;
        if (text[0] === "\ufeff") text = text.slice(1); // exactly one leading BOM goes
      }
      if (skipLF && text) {
        // The last chunk ended with CR: an LF here is the second half of its CRLF, not a
        // blank line of its own (which would dispatch an event too early).
        skipLF = false;
        if (text[0] === "\n") text = text.slice(1);
      }
      let start = 0;
      for (let i = 0; i < text.length; i += 1) {
        const c = text.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        const complete = pending + text.slice(start, i);
        pending = "";
        if (c === 13) {
          if (i + 1 === text.length) skipLF = true;
          else if (text.charCodeAt(i + 1) === 10) i += 1;
        }
        start = i + 1;
        line(complete);
      }
      pending += text.slice(start);
    },
    reset,
    get lastEventId() {
      return lastEventId;
    },
    get retry() {
      return retry;
    },
  };
}

/**
 * Call endpoint `name` with keyword arguments `args`; resolves with its outcome once the
 * terminal event came. A stream that breaks before then is resumed from the last event id
 * (RESUME_DELAYS_MS) when `resumeWindow` > 0; without one, the hub has cancelled the call.
 *
 * @param {object} options
 * @param {{ kind: string, url: string, token: string }} options.endpoint the hub (directEndpoint())
 * @param {string} options.name
 * @param {Record<string, any>} [options.args]
 * @param {number} [options.resumeWindow] seconds the call survives the page going away (0: none)
 * @param {AbortSignal} [options.signal] aborting stops reading (the promise rejects with it)
 * @param {string} [options.storageKey] keep the call in sessionStorage under this key while it runs
 * @param {(event: CallEvent) => void} [options.onEvent] every event but the terminal one
 * @param {(info: {call: string | null, location: string | null}) => void} [options.onStart]
 *   the hub accepted the call (before its first event)
 * @returns {Promise<Outcome>} rejects with EndpointError (refused, or broken for good)
 * @example
 *   const { value } = await callEndpoint({ endpoint, name: "add", args: { a: 1, b: 2 } });
 */
export async function callEndpoint(options) {
  const { endpoint, name, signal } = options;
  const resumeWindow = Number(options.resumeWindow ?? 0);
  const url = endpointUrl(endpoint, name);
  if (resumeWindow > 0) url.searchParams.set("resume_window", String(resumeWindow));
  const response = await fetch(url, {
    ...hubRequest(endpoint, "POST", { "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(options.args ?? {}),
    signal,
  });
  if (!response.ok) throw new EndpointError(await refusalReason(response), response.status);
  // Cross-origin, the hub must list these in Access-Control-Expose-Headers to be readable.
  const call = response.headers.get(CALL_HEADER);
  const state = { call, lastEventId: "" };
  const store = storer(options.storageKey, () =>
    call === null ? null : { name, call, lastEventId: state.lastEventId, url: endpoint.url, resumeWindow, args: options.args ?? null },
  );
  store.save();
  options.onStart?.({ call, location: response.headers.get("Location") });
  return follow(response, { ...options, resumable: resumeWindow > 0 && call !== null }, state, store);
}

/**
 * Read call `call` of endpoint `name` again, from after event `lastEventId` (everything when
 * null: a reloaded page that holds none of it); the same outcome and retries as callEndpoint.
 *
 * @param {object} options
 * @param {{ kind: string, url: string, token: string }} options.endpoint
 * @param {string} options.name
 * @param {string} options.call
 * @param {string | null} [options.lastEventId]
 * @param {AbortSignal} [options.signal]
 * @param {string} [options.storageKey]
 * @param {(event: CallEvent) => void} [options.onEvent]
 * @param {(info: {call: string | null, location: string | null}) => void} [options.onStart]
 * @returns {Promise<Outcome>} rejects with EndpointError (404: the call is unknown or expired)
 * @example
 *   const stored = loadStoredCall(key);
 *   if (stored) await resumeCall({ endpoint, ...stored, lastEventId: null, onEvent });
 */
export async function resumeCall(options) {
  const { endpoint, name, call } = options;
  const state = { call, lastEventId: options.lastEventId ?? "" };
  const previous = options.storageKey ? loadStoredCall(options.storageKey) : null;
  const store = storer(options.storageKey, () => ({
    resumeWindow: 0,
    args: null,
    ...previous,
    name,
    call,
    lastEventId: state.lastEventId,
    url: endpoint.url,
  }));
  const response = await openResume(endpoint, name, call, state.lastEventId, options.signal);
  if (!response.ok) {
    if (response.status === 404) store.clear(); // gone: nothing left to resume after a reload
    throw new EndpointError(await refusalReason(response), response.status);
  }
  store.save();
  options.onStart?.({ call, location: null });
  return follow(response, { ...options, resumable: true }, state, store);
}

/**
 * Cancel a running call (`DELETE`); the stream, if anyone still reads it, then ends with an
 * `error` event of type "Cancelled". Resolves false when the hub no longer knows the call.
 *
 * @param {{endpoint: { kind: string, url: string, token: string }, name: string, call: string}} options
 * @returns {Promise<boolean>}
 * @example
 *   await cancelCall({ endpoint, name: "summarize", call: "c1" });
 */
export async function cancelCall({ endpoint, name, call }) {
  const url = new URL(`calls/${encodeURIComponent(call)}`, `${endpointUrl(endpoint, name).href}/`);
  const response = await fetch(url, hubRequest(endpoint, "DELETE"));
  if (response.status === 404) return false;
  if (!response.ok) throw new EndpointError(await refusalReason(response), response.status);
  return true;
}

/**
 * What the hub says about endpoint `name`: its signature, doc, parameters and load.
 *
 * @param {{endpoint: { kind: string, url: string, token: string }, name: string, signal?: AbortSignal}} options
 * @returns {Promise<any>} `{name, signature, doc, parameters: [{name, required, default?, annotation?}], ...}`
 * @example
 *   const { parameters } = await describeEndpoint({ endpoint, name: "summarize" });
 */
export async function describeEndpoint({ endpoint, name, signal }) {
  const response = await fetch(endpointUrl(endpoint, name), { ...hubRequest(endpoint, "GET"), signal });
  if (!response.ok) throw new EndpointError(await refusalReason(response), response.status);
  return response.json();
}

/**
 * The sessionStorage key of the calls of one form (endpoint name + widget id).
 * @param {string} name
 * @param {string} formId
 * @example callStorageKey("summarize", "summarize#1") // "sse-widgets:call:summarize:summarize#1"
 */
export function callStorageKey(name, formId) {
  return `sse-widgets:call:${name}:${formId}`;
}

/**
 * The call stored under `key` by a page that went away while it ran, or null.
 * @param {string} key
 * @returns {StoredCall | null}
 */
export function loadStoredCall(key) {
  try {
    const stored = JSON.parse(globalThis.sessionStorage?.getItem(key) ?? "null");
    return stored && typeof stored.call === "string" && typeof stored.name === "string" ? stored : null;
  } catch {
    return null; // storage disabled (a sandboxed frame) or not ours
  }
}

/**
 * Keep `record` under `key` (what callEndpoint does while a call runs; for other runners,
 * such as the kernel relay). Arguments over 64 KiB are left out.
 * @param {string} key
 * @param {StoredCall} record
 */
export function saveStoredCall(key, record) {
  try {
    let text = JSON.stringify(record);
    if (text.length > MAX_STORED_ARGS) text = JSON.stringify({ ...record, args: null });
    globalThis.sessionStorage?.setItem(key, text);
  } catch {
    // storage disabled or full: the call runs on, it just cannot be resumed after a reload
  }
}

/** @param {string} key */
export function forgetStoredCall(key) {
  try {
    globalThis.sessionStorage?.removeItem(key);
  } catch {
    // storage disabled
  }
}

// -- internals ---------------------------------------------------------------------------

/**
 * @param {{ url: string }} endpoint
 * @param {string} name
 */
function endpointUrl(endpoint, name) {
  return new URL(`api/endpoints/${encodeURIComponent(name)}`, endpoint.url);
}

/**
 * @param {{ kind: string, url: string, token: string }} endpoint
 * @param {string} name
 * @param {string} call
 * @param {string} lastEventId
 * @param {AbortSignal | undefined} signal
 */
function openResume(endpoint, name, call, lastEventId, signal) {
  const url = new URL(`calls/${encodeURIComponent(call)}/events`, `${endpointUrl(endpoint, name).href}/`);
  /** @type {Record<string, string>} */
  const headers = { Accept: "text/event-stream" };
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  return fetch(url, { ...hubRequest(endpoint, "GET", headers), signal });
}

/** Largest arguments kept with a stored call (sessionStorage holds ~5 MB per origin). */
const MAX_STORED_ARGS = 64 * 1024;

/**
 * Writes the running call to sessionStorage (once per network chunk, not per event).
 * @param {string | undefined} key
 * @param {() => StoredCall | null} record
 */
function storer(key, record) {
  return {
    save() {
      const value = key ? record() : null;
      if (key && value !== null) saveStoredCall(key, value);
    },
    clear() {
      if (key) forgetStoredCall(key);
    },
  };
}

/**
 * Read a call's stream to its terminal event, resuming it while allowed.
 * @param {Response} first the first (accepted) response
 * @param {{name: string, endpoint: { kind: string, url: string, token: string }, signal?: AbortSignal, onEvent?: (e: CallEvent) => void, resumable: boolean}} options
 * @param {{call: string | null, lastEventId: string}} state
 * @param {ReturnType<typeof storer>} store
 * @returns {Promise<Outcome>}
 */
async function follow(first, options, state, store) {
  /** @type {Response | null} */
  let response = first;
  const { signal } = options;
  let attempt = 0;
  let broke = "";
  for (;;) {
    const before = state.lastEventId;
    /** @type {Outcome | null} */
    let outcome = null;
    if (response !== null) broke = "the stream ended before the call's last event";
    try {
      outcome = await readOutcome(response, options, state, store);
    } catch (error) {
      if (signal?.aborted) throw signal.reason ?? error; // stopped on purpose: the caller knows
      broke = error instanceof Error ? error.message : String(error);
    }
    if (outcome !== null) {
      store.clear();
      return outcome;
    }
    if (state.lastEventId !== before) attempt = 0; // it got somewhere: a fresh set of retries
    if (!options.resumable || state.call === null || attempt >= RESUME_DELAYS_MS.length) {
      store.clear();
      const why = options.resumable ? `could not resume it (${broke})` : "the hub cancelled it (no resume window)";
      throw new EndpointError(`the connection to the hub broke before the call finished: ${why}`, 0);
    }
    await sleep(RESUME_DELAYS_MS[attempt], signal);
    attempt += 1;
    try {
      response = await openResume(options.endpoint, options.name, state.call, state.lastEventId, signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason ?? error;
      broke = error instanceof Error ? error.message : String(error);
      response = null; // the network is still down: next attempt
      continue;
    }
    if (!response.ok) {
      const refused = response;
      response = null;
      if ([502, 503, 504].includes(refused.status)) continue; // a proxy, a restarting hub
      store.clear();
      throw new EndpointError(await refusalReason(refused), refused.status);
    }
  }
}

/**
 * @param {Response | null} response
 * @param {{signal?: AbortSignal, onEvent?: (e: CallEvent) => void}} options
 * @param {{lastEventId: string}} state
 * @param {ReturnType<typeof storer>} store
 * @returns {Promise<Outcome | null>} null when the stream ended without a terminal event
 */
async function readOutcome(response, options, state, store) {
  if (response === null) return null;
  if (!response.body) throw new Error("the response has no body to read");
  /** @type {Outcome | null} */
  let outcome = null;
  const parser = createEventStreamParser((frame) => {
    if (outcome !== null) return; // nothing comes after the terminal event
    if (frame.id) state.lastEventId = frame.id;
    const data = parseData(frame.data);
    if (frame.event === "complete") outcome = { status: "complete", value: data };
    else if (frame.event === "error") {
      const described = data !== null && typeof data === "object";
      outcome = {
        status: "error",
        type: String((described && data.type) || "Error"),
        message: String(described ? data.message ?? "" : data ?? ""),
      };
    } else options.onEvent?.({ event: frame.event, data, id: frame.id });
  });
  // ignoreBOM: the parser strips the one leading BOM itself, as the spec says.
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const reader = response.body.getReader();
  const stop = () => {
    reader.cancel().catch(() => {});
  };
  options.signal?.addEventListener("abort", stop, { once: true });
  try {
    if (options.signal?.aborted) stop();
    while (outcome === null) {
      const { value, done } = await reader.read();
      if (options.signal?.aborted) throw options.signal.reason ?? new Error("aborted");
      if (done) {
        parser.feed(decoder.decode());
        break;
      }
      parser.feed(decoder.decode(value, { stream: true }));
      if (outcome === null) store.save();
    }
  } finally {
    options.signal?.removeEventListener("abort", stop);
    if (outcome !== null) stop(); // the hub ends the response itself; do not wait for it
  }
  return outcome;
}

/** @param {string} text */
function parseData(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * @param {number} ms
 * @param {AbortSignal | undefined} signal
 */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", done);
      resolve(undefined);
    }, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
