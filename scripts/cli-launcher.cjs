#!/usr/bin/env -S MALLOC_TRIM_THRESHOLD_=65536 node --max-semi-space-size=1 --single-threaded
"use strict";
// The `divisor` command: loads the bundled CLI (divisor-bundle.cjs) with V8's code
// cache, written at build time, so the ~780 KB bundle is not parsed and compiled
// again at every start (measured: module load 90 ms -> 37 ms; time to the first
// proxied request is a bench target). Node 20 has no built-in module compile cache.
//
// Node flags, measured with `npm run bench` (docs/benchmarks.md): the proxy's heap is
// small, so a 1 MB young generation costs no throughput and saves ~12 MB of peak RSS;
// --single-threaded keeps V8's GC and compiler threads off the one core the event loop
// runs on (~25% less CPU per request when the proxy is pinned to a core); a 64 KB malloc
// trim threshold hands freed socket buffers back to the kernel (~1 MB of peak RSS).
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const Module = require("node:module");

const file = path.join(__dirname, "divisor-bundle.cjs");
const cacheFile = `${file}.cache`;
let cachedData;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  // No cache yet: compile from source.
}
const script = new vm.Script(Module.wrap(fs.readFileSync(file, "utf8")), {
  filename: file,
  cachedData,
});
// Let the cache's buffer go (~0.8 MB): V8 has deserialized what it needs.
const hadCache = cachedData !== undefined;
cachedData = undefined;
const bundle = new Module(file, module);
bundle.filename = file;
bundle.paths = Module._nodeModulePaths(__dirname);
script.runInThisContext().call(bundle.exports, bundle.exports, (id) => bundle.require(id), bundle, file, __dirname);
// The cache is specific to the V8 version and flags; V8 rejects (and we ignore) one that
// does not match. It is written when the build asks, or when there is none at all
// (an install without a build step); written to a temporary file and renamed, so a
// concurrent start never reads half a cache.
if (process.env.DIVISOR_WRITE_CODE_CACHE === "1" || !hadCache) {
  try {
    const tmp = `${cacheFile}.${process.pid}`;
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, cacheFile);
  } catch {
    // A read-only install: run without a cache.
  }
}
