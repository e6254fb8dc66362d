// Bundle the front-end modules into the Python package (`../sse_widgets/static/<name>.js`),
// where the widgets' `_esm` points. Run with `npm run build`; `npm run build -- --watch`
// rebuilds on change.
//
// ENTRIES lists what a page loads: the connection module and each widget. Add a widget by
// adding its file name here; helpers (buffers.js, frames.js, ...) are bundled into the entries
// that import them and need no entry of their own.

import { build, context } from "esbuild";
import { fileURLToPath } from "node:url";

const ENTRIES = ["connection", "progress", "log", "text", "chart", "activity", "page", "endpoint-form"];

const here = fileURLToPath(new URL(".", import.meta.url));

/** @type {import("esbuild").BuildOptions} */
const options = {
  absWorkingDir: here,
  entryPoints: ENTRIES.map((name) => `src/${name}.js`),
  outdir: "../sse_widgets/static",
  bundle: true, // npm dependencies (uPlot) go into the bundle: no CDN, no runtime download
  format: "esm", // anywidget imports `_esm` as an ES module
  target: "es2020",
  minify: true,
  sourcemap: false,
  legalComments: "eof", // keep the licence headers of bundled dependencies
  logLevel: "info",
};

if (process.argv.includes("--watch")) {
  const ctx = await context(options);
  await ctx.watch();
} else {
  await build(options);
}
