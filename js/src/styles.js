// Styles for the views, injected once per document (a notebook page, a Voilà page, the
// standalone page all get the same look without a separate CSS file to serve). Each view
// module owns its rules and registers them under its own id; colours come from CSS variables
// with JupyterLab's theme variables as first choice, so widgets follow a dark theme.
//
// Must not: know about any particular view.

/** @type {WeakMap<Document, Set<string>>} */
const injected = new WeakMap();

/**
 * Add `css` to `doc` under `id`, once (later calls with the same id do nothing).
 * @param {Document} doc
 * @param {string} id e.g. "log"
 * @param {string} css rules, every class prefixed `ssew-`
 */
export function ensureStyles(doc, id, css) {
  let ids = injected.get(doc);
  if (!ids) {
    ids = new Set();
    injected.set(doc, ids);
  }
  if (ids.has(id) || doc.getElementById(`ssew-style-${id}`)) return;
  ids.add(id);
  const style = doc.createElement("style");
  style.id = `ssew-style-${id}`;
  style.textContent = css;
  (doc.head ?? doc.documentElement).appendChild(style);
}

/** Shared colour variables: Jupyter's theme when present, readable defaults otherwise. */
export const BASE_CSS = `
.ssew-root {
  --ssew-fg: var(--jp-ui-font-color1, #1f2328);
  --ssew-muted: var(--jp-ui-font-color2, #656d76);
  --ssew-bg: var(--jp-layout-color1, #ffffff);
  --ssew-bg2: var(--jp-layout-color2, #f6f8fa);
  --ssew-border: var(--jp-border-color2, #d0d7de);
  --ssew-accent: var(--jp-brand-color1, #1a73e8);
  --ssew-ok: var(--jp-success-color1, #2e7d32);
  --ssew-warn: var(--jp-warn-color1, #e65100);
  --ssew-err: var(--jp-error-color1, #c62828);
  --ssew-font: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  --ssew-mono: var(--jp-code-font-family, ui-monospace, "SFMono-Regular", Menlo, monospace);
  font-family: var(--ssew-font);
  font-size: 13px;
  color: var(--ssew-fg);
  box-sizing: border-box;
}
.ssew-root *, .ssew-root *::before, .ssew-root *::after { box-sizing: inherit; }
.ssew-status { font-size: 11px; color: var(--ssew-muted); }
.ssew-status[data-status^="error"] { color: var(--ssew-err); }
`;
