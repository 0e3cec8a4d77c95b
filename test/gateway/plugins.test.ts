/**
 * The config's `plugins:` key: plugins loaded from TypeScript and JavaScript files
 * and from an npm package, their lifecycle (init, reload, close), their options
 * schemas, and every way loading can go wrong, through a running gateway and a
 * real HTTP client.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { EXAMPLE_PLUGIN_PACKAGE, installExamplePlugin } from "../../bench/proxy/plugin-package.js";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { ConfigError, PluginError } from "../../src/errors.js";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { definePlugin } from "../../src/middleware/plugin.js";
import { ROOT } from "../helpers/cli.js";
import { get, startBackend, type TestBackend } from "../helpers/net.js";

/** What the plugins of these tests record (they are separate module instances: they share only globalThis). */
type Events = string[];
const events = (): Events => {
  const g = globalThis as { __divisorPluginEvents?: Events };
  g.__divisorPluginEvents ??= [];
  return g.__divisorPluginEvents;
};

/** An ES module plugin that tags responses with `x-plugin: <tag>` and records its lifecycle as "<id>:init" etc. */
function taggingPlugin(id: string, tag: string, extra = ""): string {
  return `
const events = (globalThis.__divisorPluginEvents ??= []);
${extra}
export default {
  name: "tagging",
  init(context) { events.push("${id}:init:" + context.name); },
  reload() { events.push("${id}:reload"); },
  close() { events.push("${id}:close"); },
  create(options) {
    return { onResponse(_ex, head) { head.headers.set("x-plugin", "${tag}" + (options && options.suffix ? options.suffix : "")); } };
  },
};
`;
}

describe("plugins loaded through the config's plugins: key", () => {
  let dir: string;
  let backend: TestBackend;
  const gateways: Gateway[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "divisor-plugins-"));
    backend = await startBackend((req, res) => {
      res.setHeader("x-powered-by", "express");
      res.end(JSON.stringify({ apiVersion: req.headers["x-api-version"] ?? null, tenant: req.headers["x-tenant"] ?? null }));
    });
  });
  after(async () => {
    for (const g of gateways) await g.close({ gracePeriodMs: 500 });
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (file: string, text: string): string => {
    const path = join(dir, file);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, text);
    return path;
  };
  const config = (plugins: { name: string; from: string }[], middlewares: Record<string, { plugin: string; options?: unknown }>): DivisorConfigInput => ({
    listeners: [{ address: "127.0.0.1:0" }],
    logging: { level: "fatal" },
    plugins,
    services: { app: { backends: [backend.address] } },
    middlewares: Object.fromEntries(Object.entries(middlewares).map(([name, m]) => [name, { type: "plugin" as const, ...m }])),
    routers: { all: { service: "app", middlewares: Object.keys(middlewares) } },
  });
  /** A gateway whose config "lives" in `dir` (relative `from` resolve from there), listening. */
  const start = async (c: DivisorConfigInput): Promise<{ gateway: Gateway; url: string }> => {
    const gateway = createGateway(c, { source: join(dir, "divisor.yaml") });
    gateways.push(gateway);
    const [bound] = await gateway.listen();
    return { gateway, url: `http://127.0.0.1:${bound!.port}` };
  };

  test("loads a TypeScript plugin file that imports another file, relative to the config's directory", async () => {
    write("ts/package.json", JSON.stringify({ type: "module" }));
    write("ts/suffix.ts", `export const suffix = (s: string): string => s + "-ts";\n`);
    write(
      "ts/plugin.ts",
      `import { suffix } from "./suffix.ts";
interface Head { headers: { set(name: string, value: string): void } }
export const plugin = {
  name: "ts-tag",
  create: (options: { tag: string }) => ({ onResponse(_ex: unknown, head: Head): void { head.headers.set("x-plugin", suffix(options.tag)); } }),
};
`,
    );
    const { url } = await start(config([{ name: "ts-tag", from: "./ts/plugin.ts" }], { tag: { plugin: "ts-tag", options: { tag: "hello" } } }));
    const res = await get(`${url}/`);
    assert.equal(res.status, 200, `status: ${res.body}`);
    assert.equal(res.headers["x-plugin"], "hello-ts", "the plugin's onResponse ran with its options");
  });

  test("re-imports a TypeScript plugin on reload when only a file it imports changed", async () => {
    write("ts2/package.json", JSON.stringify({ type: "module" }));
    const helper = write("ts2/suffix.ts", `export const suffix = (s: string): string => s + "-a";\n`);
    write("ts2/plugin.ts", `import { suffix } from "./suffix.ts";\nexport default { name: "t", create: () => ({ onResponse(_e: unknown, head: { headers: { set(n: string, v: string): void } }) { head.headers.set("x-plugin", suffix("v")); } }) };\n`);
    const c = config([{ name: "t", from: "./ts2/plugin.ts" }], { t: { plugin: "t" } });
    const { gateway, url } = await start(c);
    assert.equal((await get(`${url}/`)).headers["x-plugin"], "v-a", "the helper's first version");
    writeFileSync(helper, `export const suffix = (s: string): string => s + "-b";\n`);
    await gateway.reload(c);
    assert.equal((await get(`${url}/`)).headers["x-plugin"], "v-b", "the changed helper was imported again with the plugin");
  });

  test("loads a JavaScript module and runs its init before serving and its close on shutdown", async () => {
    write("js/tag.mjs", taggingPlugin("js", "from-js"));
    const { gateway, url } = await start(config([{ name: "js-tag", from: "./js/tag.mjs" }], { tag: { plugin: "js-tag" } }));
    assert.ok(events().includes("js:init:js-tag"), `init ran with the entry's name before listen resolved: ${events().join(", ")}`);
    assert.equal((await get(`${url}/`)).headers["x-plugin"], "from-js", "the module's middleware answers");
    await gateway.close({ gracePeriodMs: 500 });
    assert.ok(events().includes("js:close"), `close ran on shutdown: ${events().join(", ")}`);
  });

  test("loads the example plugin as an npm package installed in node_modules next to the config", async () => {
    const project = join(dir, "project");
    installExamplePlugin(project, ROOT);
    const gateway = createGateway(config([{ name: "rewrite", from: EXAMPLE_PLUGIN_PACKAGE }], { rw: { plugin: "rewrite" } }), { source: join(project, "divisor.yaml") });
    gateways.push(gateway);
    const [bound] = await gateway.listen();
    const res = await get(`http://127.0.0.1:${bound!.port}/`, { headers: { host: "acme.example.com" } });
    assert.deepEqual(JSON.parse(res.body), { apiVersion: "2", tenant: "acme" }, "the package's onRequest set both request headers");
    assert.equal(res.headers["x-served-by"], "divisor", "the package's onResponse set x-served-by");
    assert.equal(res.headers["x-powered-by"], undefined, "and removed x-powered-by");
  });

  test("refuses a missing file, naming the path it tried and the directory it resolved from", async () => {
    const gateway = createGateway(config([{ name: "nope", from: "./missing/plugin.ts" }], { m: { plugin: "nope" } }), { source: join(dir, "divisor.yaml") });
    gateways.push(gateway);
    await assert.rejects(
      gateway.listen(),
      (err: unknown) =>
        err instanceof PluginError && err.code === "ERR_PLUGIN_NOT_FOUND" && err.message.includes(join(dir, "missing/plugin.ts")) && err.message.includes('plugins[0] "nope"'),
      "ERR_PLUGIN_NOT_FOUND with the absolute path and the entry",
    );
    assert.equal(gateway.addresses.length, 0, "nothing listens");
  });

  test("refuses a package that is not installed, saying to npm install it", async () => {
    const gateway = createGateway(config([{ name: "p", from: "@acme/not-installed-plugin" }], { m: { plugin: "p" } }), { source: join(dir, "divisor.yaml") });
    gateways.push(gateway);
    await assert.rejects(gateway.listen(), (err: unknown) => err instanceof PluginError && err.code === "ERR_PLUGIN_NOT_FOUND" && err.message.includes("npm install @acme/not-installed-plugin"), "how to fix it");
  });

  test("refuses a file Divisor does not load and a directory", async () => {
    write("other/plugin.json", "{}");
    mkdirSync(join(dir, "other/pkgdir"), { recursive: true });
    const json = createGateway(config([{ name: "j", from: "./other/plugin.json" }], { m: { plugin: "j" } }), { source: join(dir, "divisor.yaml") });
    const folder = createGateway(config([{ name: "d", from: "./other/pkgdir" }], { m: { plugin: "d" } }), { source: join(dir, "divisor.yaml") });
    gateways.push(json, folder);
    await assert.rejects(json.listen(), (err: unknown) => err instanceof PluginError && err.code === "ERR_PLUGIN_FILE_TYPE" && err.message.includes(".mjs"), "lists the extensions it loads");
    await assert.rejects(folder.listen(), (err: unknown) => err instanceof PluginError && err.code === "ERR_PLUGIN_NOT_FOUND" && err.message.includes("is a directory"), "says it is a directory");
  });

  test("refuses a module that exports something other than a plugin, saying what it found and what to export", async () => {
    write("bad/function.mjs", "export default function tag() {}\nexport const helper = { x: 1 };\n");
    write("bad/no-create.mjs", 'export default { name: "x", onRequest() {} };\n');
    const fn = createGateway(config([{ name: "f", from: "./bad/function.mjs" }], { m: { plugin: "f" } }), { source: join(dir, "divisor.yaml") });
    const partial = createGateway(config([{ name: "n", from: "./bad/no-create.mjs" }], { m: { plugin: "n" } }), { source: join(dir, "divisor.yaml") });
    gateways.push(fn, partial);
    await assert.rejects(
      fn.listen(),
      (err: unknown) => err instanceof PluginError && err.code === "ERR_PLUGIN_EXPORT" && err.message.includes("default: a function") && err.message.includes("export default definePlugin"),
      "what was found and how to fix it",
    );
    await assert.rejects(partial.listen(), (err: unknown) => err instanceof PluginError && err.message.includes("without a `create` function"), "the missing create");
  });

  test("refuses a module that throws while importing, with its error", async () => {
    write("bad/throws.mjs", 'throw new Error("no database url");\n');
    const gateway = createGateway(config([{ name: "t", from: "./bad/throws.mjs" }], { m: { plugin: "t" } }), { source: join(dir, "divisor.yaml") });
    gateways.push(gateway);
    await assert.rejects(gateway.listen(), (err: unknown) => err instanceof PluginError && err.code === "ERR_PLUGIN_IMPORT" && err.message.includes("no database url"), "the module's own error");
  });

  test("validates options with the plugin's zod schema or any Standard Schema, naming middlewares.<name>.options.<key>", async () => {
    write(
      "schema/standard.mjs",
      `export default {
  name: "std",
  // A hand-written Standard Schema (no zod): { limit: number }.
  schema: { "~standard": { version: 1, vendor: "test", validate: (v) => typeof v.limit === "number" ? { value: v } : { issues: [{ message: "limit must be a number", path: [{ key: "limit" }] }] } } },
  create: () => ({}),
};
`,
    );
    write(
      "schema/async.mjs",
      `export default { name: "a", schema: { "~standard": { version: 1, vendor: "test", validate: async (v) => ({ value: v }) } }, create: () => ({}) };\n`,
    );
    const zodPlugin = definePlugin({
      name: "code",
      schema: (await import("zod")).z.object({ header: (await import("zod")).z.string() }),
      create: () => ({}),
    });
    const std = createGateway(config([{ name: "std", from: "./schema/standard.mjs" }], { lim: { plugin: "std", options: { limit: "ten" } } }), { source: join(dir, "divisor.yaml") });
    gateways.push(std);
    await assert.rejects(
      std.listen(),
      (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.path === "middlewares.lim.options.limit" && i.message === "limit must be a number"),
      "the Standard Schema's issue at its path",
    );
    const async = createGateway(config([{ name: "a", from: "./schema/async.mjs" }], { m: { plugin: "a" } }), { source: join(dir, "divisor.yaml") });
    gateways.push(async);
    await assert.rejects(async.listen(), (err: unknown) => err instanceof ConfigError && err.message.includes("synchronous"), "an async schema is refused with the reason");
    assert.throws(
      () => createGateway(config([], { h: { plugin: "code", options: { header: 5 } } }), { plugins: [zodPlugin] }),
      (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.path === "middlewares.h.options.header"),
      "zod's issue at middlewares.h.options.header",
    );
  });

  test("refuses to start when a plugin's init throws, and binds nothing", async () => {
    write("init/fails.mjs", 'export default { name: "f", async init() { throw new Error("cannot reach the key server"); }, create: () => ({}) };\n');
    const gateway = createGateway(config([{ name: "f", from: "./init/fails.mjs" }], { m: { plugin: "f" } }), { source: join(dir, "divisor.yaml") });
    gateways.push(gateway);
    await assert.rejects(
      gateway.listen(),
      (err: unknown) => err instanceof PluginError && err.code === "ERR_PLUGIN_INIT" && err.message.includes("init() failed: cannot reach the key server"),
      "ERR_PLUGIN_INIT with the plugin's reason",
    );
    assert.equal(gateway.addresses.length, 0, "nothing listens");
  });

  test("on reload keeps an unchanged file (reload hook, no new init), re-imports a changed one (new init, old close), and refuses a failing init keeping the old config", async () => {
    const file = write("reload/tag.mjs", taggingPlugin("v1", "one"));
    const entries = [{ name: "tag", from: "./reload/tag.mjs" }];
    const { gateway, url } = await start(config(entries, { t: { plugin: "tag" } }));
    assert.equal((await get(`${url}/`)).headers["x-plugin"], "one", "version 1 serves");

    await gateway.reload(config(entries, { t: { plugin: "tag", options: { suffix: "+" } } }));
    assert.equal((await get(`${url}/`)).headers["x-plugin"], "one+", "new options, same module");
    assert.ok(events().includes("v1:reload"), `reload ran on the kept module: ${events().join(", ")}`);
    assert.equal(events().filter((e) => e.startsWith("v1:init")).length, 1, "init ran once for the kept module");

    writeFileSync(file, taggingPlugin("v2", "two"));
    await gateway.reload(config(entries, { t: { plugin: "tag" } }));
    assert.equal((await get(`${url}/`)).headers["x-plugin"], "two", "the changed file was imported again");
    assert.ok(events().includes("v2:init:tag"), "the new module's init ran");
    assert.ok(events().includes("v1:close"), "the replaced module was closed");
    assert.match(await gateway.metrics(), /divisor_plugin_imports_total\{plugin="tag"\} 2\n/, "two imports counted: the start's and the changed file's");

    writeFileSync(file, taggingPlugin("v3", "three", 'throw new Error("v3 is broken");'));
    await assert.rejects(gateway.reload(config(entries, { t: { plugin: "tag" } })), (err: unknown) => err instanceof PluginError && err.code === "ERR_PLUGIN_IMPORT", "the broken file refuses the reload");
    writeFileSync(file, taggingPlugin("v4", "four").replace("init(context) {", 'init(context) { throw new Error("v4 init fails");'));
    await assert.rejects(gateway.reload(config(entries, { t: { plugin: "tag" } })), (err: unknown) => err instanceof PluginError && err.code === "ERR_PLUGIN_INIT", "a failing init refuses the reload");
    assert.equal((await get(`${url}/`)).headers["x-plugin"], "two", "the previous configuration and module stay in force");
    assert.ok(!events().includes("v2:close"), "the module in force was not closed");
  });

  test("closes a plugin that a reload drops from plugins:", async () => {
    write("drop/tag.mjs", taggingPlugin("drop", "d"));
    const { gateway, url } = await start(config([{ name: "dropme", from: "./drop/tag.mjs" }], { t: { plugin: "dropme" } }));
    assert.equal((await get(`${url}/`)).headers["x-plugin"], "d", "serves with the plugin");
    await gateway.reload(config([], {}));
    assert.ok(events().includes("drop:close"), `close ran on removal: ${events().join(", ")}`);
    assert.equal((await get(`${url}/`)).headers["x-plugin"], undefined, "the plugin no longer runs");
  });

  test("runs init, reload and close of plugins passed in code too", async () => {
    const seen: string[] = [];
    const code = definePlugin({
      name: "code-life",
      async init() {
        await new Promise((r) => setTimeout(r, 10));
        seen.push("init");
      },
      reload: () => {
        seen.push("reload");
      },
      close: () => {
        seen.push("close");
      },
      create: () => ({}),
    });
    const gateway = createGateway(config([], { c: { plugin: "code-life" } }), { plugins: [code] });
    assert.deepEqual(seen, [], "nothing runs before listen");
    await gateway.listen();
    assert.deepEqual(seen, ["init"], "listen waited for the async init");
    await gateway.reload(config([], { c: { plugin: "code-life" } }));
    await gateway.close({ gracePeriodMs: 500 });
    assert.deepEqual(seen, ["init", "reload", "close"], "the whole lifecycle, in order");
  });

  test("closes the plugins whose init ran when a later one's init fails, and a second listen() tries again", async () => {
    const seen: string[] = [];
    const first = definePlugin({ name: "first", init: () => void seen.push("first:init"), close: () => void seen.push("first:close"), create: () => ({}) });
    let failures = 1;
    const second = definePlugin({
      name: "second",
      init: () => {
        if (failures-- > 0) throw new Error("not yet");
        seen.push("second:init");
      },
      create: () => ({}),
    });
    const gateway = createGateway(config([], { a: { plugin: "first" }, b: { plugin: "second" } }), { plugins: [first, second] });
    gateways.push(gateway);
    await assert.rejects(gateway.listen(), (err: unknown) => err instanceof PluginError && err.plugin === "second" && err.code === "ERR_PLUGIN_INIT", "the failing plugin is named");
    assert.deepEqual(seen, ["first:init", "first:close"], "the plugin whose init ran was closed");
    await Promise.all([gateway.listen(), gateway.listen()]);
    assert.deepEqual(seen, ["first:init", "first:close", "first:init", "second:init"], "the retry ran every init once, even for two concurrent listen() calls");
  });

  test("refuses two entries with one name and an entry named like a plugin passed in code", async () => {
    assert.throws(
      () => createGateway(config([{ name: "x", from: "./a.mjs" }, { name: "x", from: "./b.mjs" }], {})),
      (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.path === "plugins[1].name"),
      "the second entry's name is the problem",
    );
    write("clash.mjs", taggingPlugin("clash", "c"));
    const code = definePlugin({ name: "clash", create: () => ({}) });
    const gateway = createGateway(config([{ name: "clash", from: "./clash.mjs" }], {}), { source: join(dir, "divisor.yaml"), plugins: [code] });
    gateways.push(gateway);
    await assert.rejects(gateway.listen(), (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.path === "plugins[0].name"), "the clash is named");
  });
});
