// The endpoint form widget's front-end module (anywidget `_esm`, built to
// sse_widgets/static/endpoint-form.js): the form view (./views/endpoint-form.js) wired to the
// hub's endpoint API. Each page makes its own calls, so every viewer of a dashboard sees only
// theirs.
//
// Two ways to the hub, chosen as the other widgets choose (./source.js):
// - direct: the page POSTs and reads the stream itself (./endpoint-call.js);
// - relay (the page cannot reach the hub: VS Code, Colab): the kernel makes the call for this
//   view and forwards its events as custom messages (sse_widgets/widgets/endpoint_form.py).
//   With transport "auto", a page whose fetch of the description fails switches to it.
//
// A running call is kept in sessionStorage (per endpoint name and widget); a reloaded page
// resumes it, replayed from its first event, while the hub still has it (`resume_window`).
//
// Must not: draw (the view does), or parse frames other than through ./endpoint-call.js.

import {
  EndpointError,
  callEndpoint,
  callStorageKey,
  cancelCall,
  describeEndpoint,
  forgetStoredCall,
  loadStoredCall,
  resumeCall,
  saveStoredCall,
} from "./endpoint-call.js";
import { directEndpoint } from "./source.js";
import { createEndpointFormView } from "./views/endpoint-form.js";

/** Traits passed through to the view. */
const OPTIONS = ["endpoint", "arguments", "fields", "button", "max_items", "max_log_lines"];
const KERNEL_SLOW_MS = 5_000;

/**
 * @typedef {import("./endpoint-call.js").Outcome} Outcome
 * @typedef {import("./endpoint-call.js").CallEvent} CallEvent
 *
 * @typedef {object} CallOptions
 * @property {string} name
 * @property {AbortSignal} signal
 * @property {string} storageKey
 * @property {(info: {call: string | null}) => void} onStart
 * @property {(event: CallEvent) => void} onEvent
 *
 * @typedef {object} Runner how calls reach the hub
 * @property {"direct" | "relay"} kind
 * @property {string} url what a stored call must have been made through to be resumed
 * @property {(name: string) => Promise<any>} describe
 * @property {(options: CallOptions & {args: Record<string, any>, resumeWindow: number}) => Promise<Outcome>} call
 * @property {(options: CallOptions & {call: string}) => Promise<Outcome>} resume
 * @property {(options: {name: string, call: string}) => Promise<unknown>} cancel
 * @property {() => void} close
 */

/**
 * anywidget's render: the form and its calls in `el`; returns the cleanup.
 * @param {{ model: any, el: HTMLElement }} context
 */
export function render({ model, el }) {
  const formId = String(model.get("_form_id") || "form");
  const storageKey = (/** @type {string} */ name) => callStorageKey(name, formId);
  /** @type {{controller: AbortController, name: string, call: string | null} | null} */
  let current = null;
  let closed = false;

  /** @type {Record<string, any>} */
  const options = {};
  for (const name of OPTIONS) options[name] = model.get(name);
  const view = createEndpointFormView(el, options, { run, cancel });

  const endpoint = directEndpoint(model);
  const transport = model.get("transport") ?? "auto";
  /** @type {Runner} */
  let runner = endpoint === null || transport === "relay" ? relayRunner(model) : directRunner(endpoint);
  const mayFallBack = runner.kind === "direct" && transport === "auto";

  function describe() {
    if (endpoint === null && transport === "direct") {
      view.setInfoError("no hub the page can reach (transport='direct')");
      return;
    }
    const name = String(model.get("endpoint"));
    let answered = false;
    const slow = setTimeout(() => {
      if (!answered && runner.kind === "relay") view.setInfoError("waiting for the kernel (is it busy running a cell?)");
    }, KERNEL_SLOW_MS);
    runner.describe(name).then(
      (info) => {
        answered = true;
        clearTimeout(slow);
        if (!closed && name === model.get("endpoint")) view.setInfo(info);
      },
      (/** @type {any} */ error) => {
        answered = true;
        clearTimeout(slow);
        if (closed || name !== model.get("endpoint")) return;
        if (mayFallBack && runner.kind === "direct" && !(error instanceof EndpointError)) {
          // fetch itself failed (network, CORS): only the kernel can reach the hub
          runner.close();
          runner = relayRunner(model);
          describe();
          return;
        }
        view.setInfoError(error?.message ?? String(error));
      },
    );
  }

  /**
   * Follow a call (new or resumed) until its outcome; drop what comes after a cancel.
   * @param {string} name
   * @param {(controller: AbortController) => Promise<Outcome>} start
   */
  async function follow(name, start) {
    const controller = new AbortController();
    const mine = { controller, name, call: /** @type {string | null} */ (null) };
    current = mine;
    try {
      const outcome = await start(controller);
      if (current !== mine) return;
      current = null;
      view.finish(outcome);
    } catch (/** @type {any} */ error) {
      if (current !== mine) return; // cancelled, or the widget went away
      current = null;
      view.fail(error?.message ?? String(error), Number(error?.status ?? 0));
    }
  }

  /** @param {string} name */
  function handlers(name) {
    return {
      name,
      storageKey: storageKey(name),
      onStart: (/** @type {{call: string | null}} */ info) => {
        if (current?.name === name) current.call = info.call;
      },
      onEvent: (/** @type {CallEvent} */ event) => view.onEvent(event.event, event.data, event.id),
    };
  }

  /** @param {Record<string, any>} args */
  function run(args) {
    if (current !== null || closed) return;
    const name = String(model.get("endpoint"));
    const resumeWindow = Number(model.get("resume_window") ?? 0);
    view.started();
    follow(name, (controller) => runner.call({ ...handlers(name), args, resumeWindow, signal: controller.signal }));
  }

  function cancel() {
    const running = current;
    if (running === null) return;
    current = null;
    running.controller.abort();
    forgetStoredCall(storageKey(running.name));
    view.finish({ status: "error", type: "Cancelled", message: "cancelled" });
    if (running.call !== null) runner.cancel({ name: running.name, call: running.call }).catch(() => {});
  }

  function resumeStored() {
    const name = String(model.get("endpoint"));
    const stored = loadStoredCall(storageKey(name));
    if (stored === null) return;
    if (stored.url !== runner.url) {
      forgetStoredCall(storageKey(name)); // made through another hub or path: not ours to resume
      return;
    }
    if (stored.args) view.fill(stored.args);
    view.started({ resumed: true });
    // From the first event: this page holds nothing of the call yet.
    follow(name, (controller) => {
      if (current) current.call = stored.call;
      return runner.resume({ ...handlers(name), call: stored.call, signal: controller.signal });
    });
  }

  /** @type {[string, () => void][]} */
  const listeners = [];
  for (const name of OPTIONS) {
    const fn = () => {
      view.setOptions({ [name]: model.get(name) });
      if (name === "endpoint") describe();
    };
    model.on(`change:${name}`, fn);
    listeners.push([`change:${name}`, fn]);
  }

  describe();
  resumeStored();

  return () => {
    closed = true;
    for (const [name, fn] of listeners) model.off(name, fn);
    const running = current;
    current = null;
    // Reading stops; the stored call stays, so a reload resumes it within resume_window.
    running?.controller.abort();
    runner.close();
    view.destroy();
  };
}

export default { render };

/**
 * Calls made by the page itself.
 * @param {{ kind: string, url: string, token: string }} endpoint
 * @returns {Runner}
 */
function directRunner(endpoint) {
  return {
    kind: "direct",
    url: endpoint.url,
    describe: (name) => describeEndpoint({ endpoint, name }),
    call: (options) => callEndpoint({ endpoint, ...options }),
    resume: (options) => resumeCall({ endpoint, ...options, lastEventId: null }),
    cancel: ({ name, call }) => cancelCall({ endpoint, name, call }),
    close() {},
  };
}

/**
 * Calls made by the kernel for this view (see sse_widgets/widgets/endpoint_form.py): messages
 * `{type: "describe" | "call" | "resume" | "stop" | "cancel", view, request, ...}` out;
 * `{type: "info" | "started" | "events" | "event" | "failed", view, request, ...}` back.
 * @param {any} model
 * @returns {Runner}
 */
export function relayRunner(model) {
  const viewId = `v${Math.random().toString(36).slice(2, 10)}`;
  let requests = 0;
  /** @type {Map<number, (message: any) => void>} */
  const waiting = new Map();
  const onMessage = (/** @type {any} */ message) => {
    if (message?.view !== viewId) return; // another view of this widget (or another page's)
    waiting.get(Number(message.request))?.(message);
  };
  model.on("msg:custom", onMessage);
  const send = (/** @type {Record<string, any>} */ content) => model.send({ ...content, view: viewId });

  /**
   * @param {Record<string, any>} content
   * @param {CallOptions} options
   * @param {Record<string, any> | null} args
   * @param {number} resumeWindow
   * @returns {Promise<Outcome>}
   */
  const stream = (content, options, args, resumeWindow) =>
    new Promise((resolve, reject) => {
      const request = (requests += 1);
      let call = typeof content.call === "string" ? content.call : null;
      let lastEventId = "";
      const save = () => {
        if (call !== null) saveStoredCall(options.storageKey, { name: options.name, call, lastEventId, url: "relay", resumeWindow, args });
      };
      const end = () => {
        waiting.delete(request);
        options.signal.removeEventListener("abort", abort);
      };
      const abort = () => {
        end();
        send({ type: "stop", request }); // reading stops; the hub keeps the call for its resume window
        reject(options.signal.reason);
      };
      /** @param {{id?: string, event: string, data: string | null}} frame @returns {Outcome | null} */
      const take = (frame) => {
        if (frame.id) lastEventId = String(frame.id);
        let data;
        try {
          data = JSON.parse(frame.data ?? "null");
        } catch {
          data = frame.data;
        }
        if (frame.event === "complete") return { status: "complete", value: data };
        if (frame.event === "error") {
          const described = data !== null && typeof data === "object";
          return { status: "error", type: String((described && data.type) || "Error"), message: String(described ? data.message ?? "" : data ?? "") };
        }
        options.onEvent({ event: frame.event || "message", data, id: String(frame.id ?? "") });
        return null;
      };
      waiting.set(request, (message) => {
        if (message.type === "started") {
          call = message.call ?? call;
          save();
          options.onStart({ call });
        } else if (message.type === "events" || message.type === "event") {
          const frames = message.type === "events" ? message.events ?? [] : [message];
          for (const frame of frames) {
            const outcome = take(frame);
            if (outcome !== null) {
              end();
              forgetStoredCall(options.storageKey);
              resolve(outcome);
              return;
            }
          }
          save();
        } else if (message.type === "failed") {
          end();
          forgetStoredCall(options.storageKey);
          reject(new EndpointError(String(message.error ?? "the kernel could not make the call"), Number(message.status ?? 0)));
        }
      });
      options.signal.addEventListener("abort", abort, { once: true });
      send({ ...content, request });
    });

  return {
    kind: "relay",
    url: "relay",
    describe: (name) =>
      new Promise((resolve, reject) => {
        const request = (requests += 1);
        waiting.set(request, (message) => {
          waiting.delete(request);
          if (message.type === "info") resolve(message.info);
          else reject(new EndpointError(String(message.error ?? "no answer"), Number(message.status ?? 0)));
        });
        send({ type: "describe", name, request });
      }),
    call: (options) =>
      stream({ type: "call", name: options.name, args: options.args, resume_window: options.resumeWindow }, options, options.args, options.resumeWindow),
    resume: (options) => {
      const stored = loadStoredCall(options.storageKey);
      return stream({ type: "resume", name: options.name, call: options.call, last_event_id: null }, options, stored?.args ?? null, stored?.resumeWindow ?? 0);
    },
    cancel: async ({ name, call }) => send({ type: "cancel", name, call, request: (requests += 1) }),
    close() {
      model.off("msg:custom", onMessage);
      waiting.clear();
    },
  };
}
