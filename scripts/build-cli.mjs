// Builds the `divisor` command (the package's bin):
//   dist/cli/divisor-bundle.cjs        the CLI and its dependencies in one file (esbuild)
//   dist/cli/divisor.cjs               launcher: Node flags in its shebang, loads the bundle with V8's code cache
//   dist/cli/divisor-bundle.cjs.cache  the code cache, written by running the launcher once
// Measured: loading ~200 separate ESM files of the CLI's dependencies (zod, yaml, pino,
// commander) took ~45% of process start and 11 MB more RSS than one bundle, and the
// code cache cuts the bundle's load from ~90 to ~37 ms (time to the first proxied
// request is a bench target, docs/benchmarks.md).
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

const bundle = "dist/cli/divisor-bundle.cjs";
// Plugins that are ES modules need a real import(), which the bundle (run from a code cache) lacks:
// src/middleware/native-import.ts becomes a require() of this file, a plain CommonJS module whose import() Node serves.
const NATIVE_IMPORT = "dist/cli/native-import.cjs";
// A fresh checkout (or the Dockerfile's build stage, which builds no tsc output first) has no dist/cli yet.
mkdirSync("dist/cli", { recursive: true });
writeFileSync(NATIVE_IMPORT, '"use strict";\n// Node\'s import() for plugins that are ES modules (see src/middleware/native-import.ts).\nexports.nativeImport = (url) => import(url);\n');
const nativeImport = {
  name: "native-import",
  setup(b) {
    b.onResolve({ filter: /\/native-import\.js$/ }, () => ({ path: "./native-import.cjs", external: true }));
  },
};
await build({
  entryPoints: ["src/cli/main.ts"],
  outfile: bundle,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  minify: true,
  sourcemap: "linked",
  // The sources are ESM; in the bundle, import.meta.url is the bundle's own URL (it lives in dist/cli/ too).
  define: { "import.meta.url": "__divisorUrl" },
  banner: { js: 'const __divisorUrl = require("node:url").pathToFileURL(__filename).href;' },
  // import() inside a vm.Script compiled from a code cache has no module loader to call: make them require()s.
  supported: { "dynamic-import": false },
  // The OpenTelemetry SDK is required from node_modules only when tracing is configured: kept out
  // of the bundle, it adds nothing to the bundle's parse, code cache or start when tracing is off.
  // ioredis likewise, only when a rate-limit store is on Redis; etcd3 (and its gRPC stack, +670 KB
  // of bundle) only when an etcd provider or ACME storage in etcd is configured; acme-client only when
  // a listener gets its certificates over ACME; @kubernetes/client-node only when a kubernetes provider is.
  // (tsx, for TypeScript plugins, comes through native-import.cjs.)
  // wasmoon finds its glue.wasm beside its own file, and is loaded only when a `type: lua` middleware is configured.
  external: ["@opentelemetry/*", "ioredis", "etcd3", "wasmoon", "acme-client", "@kubernetes/client-node"],
  plugins: [nativeImport],
  logLevel: "warning",
});
// The entry's hashbang is kept by esbuild but is not valid inside the CommonJS wrapper the launcher compiles: turn it into a comment (same length, so the source map holds).
const text = readFileSync(bundle, "utf8");
if (text.startsWith("#!")) writeFileSync(bundle, `//${text.slice(2)}`);
copyFileSync("scripts/cli-launcher.cjs", "dist/cli/divisor.cjs");
chmodSync("dist/cli/divisor.cjs", 0o755);
rmSync(`${bundle}.cache`, { force: true });
// Run it once, through its shebang so the cache matches the runtime flags, on the path `start` takes.
execFileSync("dist/cli/divisor.cjs", ["validate", "-c", "defaults/divisor.yaml"], { env: { ...process.env, DIVISOR_WRITE_CODE_CACHE: "1" }, stdio: "ignore" });
