// The anywidget glue: a widget module is `defineWidget(createView, optionNames)`. It builds
// the view (./views/), feeds it from openSource (direct stream or kernel relay), and keeps
// both in step with the model's traits.
//
//   // js/src/log.js
//   export default defineWidget(createLogView, ["level", "max_lines", "height", "search"]);
//
// Must not: know what a view draws.

import { openSource } from "./source.js";

/** Traits that change what is subscribed (the view is cleared and the source reopened). */
const SUBSCRIPTION_TRAITS = ["channel", "event", "transport", "replay"];

/**
 * @param {(el: HTMLElement, options: Record<string, any>, host: any) => import("./views/types.js").View} createView
 * @param {string[]} optionNames the view's own traits, passed through to it
 * @returns {{ render: (context: { model: any, el: HTMLElement }) => () => void }}
 */
export function defineWidget(createView, optionNames) {
  return {
    render({ model, el }) {
      /** @type {Record<string, any>} */
      const options = {};
      for (const name of ["channel", "event", ...optionNames]) options[name] = model.get(name);
      /** @type {import("./source.js").Source | null} */
      let source = null;
      const host = {
        /** @param {string} channel @param {{event: string, data: any}} message */
        control(channel, message) {
          if (source === null) return Promise.reject(new Error("not connected"));
          return source.control(channel, message);
        },
      };
      const view = createView(el, options, host);
      const root = /** @type {HTMLElement | null} */ (el.querySelector(".ssew-root")) ?? el;
      let channel = options.channel;

      const connect = () => {
        source?.close();
        channel = model.get("channel");
        source = openSource(model, {
          channels: [channel],
          events: view.events,
          replay: model.get("replay"),
          onEvent: (name, payload, meta) => view.onEvent(name, payload, meta),
          onReset: (ch, reason) => view.onReset(ch, reason),
          onClose: (ch, reason) => view.onClose(ch, reason),
          onStatus(status, transport) {
            root.dataset.transport = transport;
            view.setStatus(transport === "relay" && status === "live" ? "live (relay)" : status);
          },
        });
      };

      /** @type {[string, () => void][]} */
      const listeners = [];
      const listen = (/** @type {string} */ name, /** @type {() => void} */ fn) => {
        model.on(`change:${name}`, fn);
        listeners.push([`change:${name}`, fn]);
      };
      for (const name of optionNames) {
        listen(name, () => view.setOptions({ [name]: model.get(name) }));
      }
      for (const name of SUBSCRIPTION_TRAITS) {
        listen(name, () => {
          const previous = channel;
          view.setOptions({ channel: model.get("channel"), event: model.get("event") });
          view.onReset(previous, "widget-changed");
          connect();
        });
      }
      // A view's own controls (the chart's Pause button) change a trait: every view of the
      // model, and the Python object, follow.
      const onOption = (/** @type {any} */ event) => {
        const { name, value } = event.detail ?? {};
        if (!optionNames.includes(name) || model.get(name) === value) return;
        model.set(name, value);
        model.save_changes();
      };
      el.addEventListener?.("ssew-option", onOption);
      connect();
      return () => {
        el.removeEventListener?.("ssew-option", onOption);
        for (const [name, fn] of listeners) model.off(name, fn);
        source?.close();
        source = null;
        view.destroy();
      };
    },
  };
}
