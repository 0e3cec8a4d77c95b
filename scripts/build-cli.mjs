// Bundles the CLI into one file (dist/cli/divisor.mjs, the package's `divisor` bin).
// Measured: loading ~200 separate ESM files of the CLI's dependencies (zod, yaml,
// pino, commander) took ~45% of process start and 11 MB more RSS than one bundle;
// time to the first proxied request is a target of the bench.
import { build } from "esbuild";

await build({
  entryPoints: ["src/cli/main.ts"],
  outfile: "dist/cli/divisor.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  minify: true,
  sourcemap: "linked",
  // Some dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __divisorRequire } from 'node:module'; const require = __divisorRequire(import.meta.url);" },
  logLevel: "warning",
});
