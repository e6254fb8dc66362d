// Where a widget's events come from: the hub's stream opened by the page (direct), or the
// kernel relay (custom messages through the widget's comm), chosen as the Python side says
// and falling back to the relay by itself when the page cannot reach the hub.
//
//   const source = openSource(model, {
//     channels: ["train"], events: ["log"], replay: "history",
//     onEvent, onReset, onClose,
//     onStatus(status, transport) {},  // "connecting" | "live" | "retrying" | "unreachable" |
//   });                                // "error: …", transport "direct" | "relay"
//   await source.control("train", { event: "cancel", data: { bar: id } });
//   source.close();
//
// Model traits read (set by sse_widgets/widgets/endpoint.py in the kernel):
//   transport   "auto" | "direct" | "relay"
//   _hub_kind   "jupyter": `_hub_url` is a path on the page's own server; the page's login
//               (cookie, or the page config token) authenticates, nothing secret is in the
//               widget state. "external": `_hub_url`, `_hub_token` of a `sse-widgets serve`
//               hub (CORS). "relay": only the kernel reaches the hub.
//
// Must not: render, or parse frames differently from connection.js (the relay forwards the
// hub's multiplexed frames as they are).

import { subscribe } from "./connection.js";

const RELAY = "sse-relay";
const PING_MS = 15_000; // the kernel stops a relay not pinged for 60 s (a closed tab)
const FALLBACK_AFTER_MS = 8_000; // a stream not live by then is not coming (a buffering proxy)
const CONTROL_TIMEOUT_MS = 10_000;

/**
 * @typedef {object} SourceHandlers
 * @property {string[]} channels
 * @property {string[] | null} events
 * @property {"none" | "snapshot" | "history"} replay
 * @property {(name: string, payload: any, meta: any) => void} onEvent
 * @property {(channel: string, reason: string) => void} onReset
 * @property {(channel: string, reason: string) => void} onClose
 * @property {(status: string, transport: "direct" | "relay") => void} onStatus
 *
 * @typedef {object} Source
 * @property {(channel: string, message: {event: string, data: any}) => Promise<void>} control
 * @property {() => void} close
 */

/**
 * @param {any} model the anywidget model
 * @param {SourceHandlers} handlers
 * @returns {Source}
 */
export function openSource(model, handlers) {
  const endpoint = directEndpoint(model);
  const transport = model.get("transport");
  if (transport === "relay" || endpoint === null) {
    if (transport === "direct") {
      handlers.onStatus("error: no hub the page can reach (transport='direct')", "direct");
      return { control: () => Promise.reject(new Error("not connected")), close() {} };
    }
    return relaySource(model, handlers);
  }
  if (transport === "direct") return directSource(endpoint, handlers, () => {});
  /** @type {Source} */
  let current;
  let fellBack = false;
  const fallBack = () => {
    if (fellBack) return;
    fellBack = true;
    clearTimeout(timer);
    current.close();
    current = relaySource(model, handlers);
  };
  const timer = setTimeout(fallBack, FALLBACK_AFTER_MS);
  current = directSource(endpoint, handlers, (status) => {
    if (status === "live") clearTimeout(timer);
    if (status === "unreachable") fallBack();
  });
  return {
    control: (channel, message) => current.control(channel, message),
    close() {
      clearTimeout(timer);
      current.close();
    },
  };
}

/**
 * @param {any} model
 * @returns {{ kind: string, url: string, token: string } | null}
 */
export function directEndpoint(model) {
  const kind = model.get("_hub_kind");
  const url = model.get("_hub_url");
  if (!url || (kind !== "jupyter" && kind !== "external")) return null;
  if (kind === "external") return { kind, url, token: model.get("_hub_token") ?? "" };
  // The page's server: its origin and the page's login. JupyterLab's page config carries the
  // token when the user logged in with one; otherwise the login cookie does it.
  const base = new URL(url, globalThis.location?.href);
  return { kind, url: base.href, token: pageConfig()?.token ?? "" };
}

/**
 * @param {{ kind: string, url: string, token: string }} endpoint
 * @param {SourceHandlers} handlers
 * @param {(status: string) => void} watch
 * @returns {Source}
 */
function directSource(endpoint, handlers, watch) {
  const unsubscribe = subscribe({
    url: endpoint.url,
    token: endpoint.token || undefined,
    channels: handlers.channels,
    events: handlers.events,
    replay: handlers.replay,
    onEvent: handlers.onEvent,
    onReset: handlers.onReset,
    onClose: handlers.onClose,
    onStatus(status) {
      watch(status);
      handlers.onStatus(status, "direct");
    },
  });
  return {
    control: (channel, message) => postControl(endpoint, channel, message),
    close: unsubscribe,
  };
}

/**
 * @param {{ kind: string, url: string, token: string }} endpoint
 * @param {string} channel
 * @param {{event: string, data: any}} message
 */
async function postControl(endpoint, channel, message) {
  const url = new URL(`api/channels/${encodeURIComponent(channel)}/control`, endpoint.url);
  const response = await fetch(url, {
    ...hubRequest(endpoint, "POST", { "Content-Type": "application/json" }),
    body: JSON.stringify(message),
  });
  if (!response.ok) throw new Error(await refusalReason(response));
}

/**
 * Why the hub refused a request: the message of its JSON error (`{"error", "status"}`), else
 * the status line.
 * @param {Response} response a response with a 4xx / 5xx status
 * @returns {Promise<string>}
 */
export async function refusalReason(response) {
  let reason = `${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    reason = body?.error ?? body?.message ?? reason;
  } catch {
    // not JSON: keep the status line
  }
  return String(reason);
}

/**
 * The credentials of a `fetch` from the page to the hub: the token as `Authorization`, the
 * page's login cookie for Jupyter (with its `_xsrf` token on anything but GET: Jupyter refuses
 * cookie-authenticated POSTs and DELETEs without it), no cookie for an external hub.
 *
 * @param {{ kind: string, url: string, token: string }} endpoint from directEndpoint()
 * @param {string} method
 * @param {Record<string, string>} [headers] more headers (Content-Type, Last-Event-ID)
 * @returns {{ method: string, headers: Record<string, string>, credentials: RequestCredentials }}
 * @example
 *   await fetch(url, { ...hubRequest(endpoint, "DELETE") });
 */
export function hubRequest(endpoint, method, headers = {}) {
  /** @type {Record<string, string>} */
  const all = { ...headers };
  if (endpoint.token) all.Authorization = `token ${endpoint.token}`;
  const xsrf = endpoint.kind === "jupyter" && method !== "GET" ? cookie("_xsrf") : null;
  if (xsrf) all["X-XSRFToken"] = xsrf;
  return { method, headers: all, credentials: endpoint.kind === "jupyter" ? "same-origin" : "omit" };
}

/**
 * Events through the kernel: it subscribes for this view and sends the hub's frames in
 * batches (see sse_widgets/widgets/relay.py).
 * @param {any} model
 * @param {SourceHandlers} handlers
 * @returns {Source}
 */
function relaySource(model, handlers) {
  const view = `v${Math.random().toString(36).slice(2, 10)}`;
  let requests = 0;
  /** @type {Map<number, {resolve: () => void, reject: (e: Error) => void}>} */
  const waiting = new Map();
  /** @param {any} msg */
  const onMessage = (msg) => {
    if (msg?.type !== RELAY || msg.view !== view) return;
    if (Array.isArray(msg.frames)) deliver(msg.frames, handlers);
    if (msg.status) handlers.onStatus("live", "relay");
    if (msg.error && msg.reply === undefined) handlers.onStatus(`error: ${msg.error}`, "relay");
    if (msg.reply !== undefined) {
      const pending = waiting.get(msg.reply);
      waiting.delete(msg.reply);
      if (msg.error) pending?.reject(new Error(msg.error));
      else pending?.resolve();
    }
  };
  model.on("msg:custom", onMessage);
  handlers.onStatus("connecting", "relay");
  const send = (/** @type {any} */ content) => model.send({ type: RELAY, view, ...content });
  send({
    action: "start",
    channels: handlers.channels,
    events: handlers.events,
    replay: handlers.replay,
  });
  const ping = setInterval(() => send({ action: "ping" }), PING_MS);
  return {
    control(channel, message) {
      const request = (requests += 1);
      return new Promise((resolve, reject) => {
        waiting.set(request, { resolve, reject });
        send({ action: "control", channel, message, request });
        setTimeout(() => {
          if (!waiting.delete(request)) return;
          reject(new Error("the kernel did not answer (is it busy running a cell?)"));
        }, CONTROL_TIMEOUT_MS);
      });
    },
    close() {
      clearInterval(ping);
      model.off("msg:custom", onMessage);
      for (const pending of waiting.values()) pending.reject(new Error("widget closed"));
      waiting.clear();
      try {
        send({ action: "stop" });
      } catch {
        // the comm is already gone (page unload): the kernel times the relay out
      }
    },
  };
}

/**
 * @param {[string, string | null, string | null][]} frames [event name, id, hub frame JSON]
 * @param {SourceHandlers} handlers
 */
function deliver(frames, handlers) {
  for (const [name, id, data] of frames) {
    let message;
    try {
      message = JSON.parse(data ?? "null");
    } catch {
      continue; // not a hub frame
    }
    if (typeof message?.channel !== "string") continue;
    const channel = message.channel;
    if (name === "reset") handlers.onReset(channel, String(message.data?.reason ?? "unknown"));
    else if (name === "close") handlers.onClose(channel, String(message.data?.reason ?? "deleted"));
    else if (handlers.events === null || handlers.events.includes(name)) {
      handlers.onEvent(name, message.data, { channel, id: id ?? "", time: message.time });
    }
  }
}

/** @returns {any} JupyterLab / Notebook / Voilà page config, or null */
function pageConfig() {
  const element = globalThis.document?.getElementById("jupyter-config-data");
  if (!element?.textContent) return null;
  try {
    return JSON.parse(element.textContent);
  } catch {
    return null;
  }
}

/** @param {string} name */
function cookie(name) {
  const match = globalThis.document?.cookie?.match(new RegExp(`(?:^|;\\s*)${name}=([^;]*)`));
  return match ? decodeURIComponent(match[1]) : null;
}
