import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runBuilt, startBuilt } from "../helpers/cli.js";
import { freePort, get as getOnce, startBackend, type TestBackend } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";
import { exitedWithin, killGroups, ownGroup, until, workerPids } from "../helpers/process.js";

/** A GET that fails after 15 s instead of hanging the test on a worker that never answers. */
const get = (url: string, options: Parameters<typeof getOnce>[1] = {}) => getOnce(url, { timeout: 15_000, ...options });

let dir: string;
let blue: TestBackend;
let green: TestBackend;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "divisor-split-workers-"));
  blue = await startBackend((_req, res) => res.end("blue"));
  green = await startBackend((_req, res) => res.end("green"));
});
after(async () => {
  killGroups();
  await blue.close();
  await green.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Bodies of `n` requests, each on a new connection (so both workers take some). */
async function sides(url: string, n: number): Promise<string[]> {
  return (await Promise.all(Array.from({ length: n }, () => get(url, { agent: false })))).map((r) => r.body);
}

/** Waits up to 15 s for /readyz to say every worker is ready (slowly on a loaded machine). */
async function allReady(admin: string): Promise<void> {
  let ready = await get(`${admin}/readyz`);
  for (let i = 0; i < 150 && ready.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    ready = await get(`${admin}/readyz`);
  }
  assert.equal(ready.status, 200, ready.body);
}

test("divisor split flips a router of a --workers 2 gateway on every worker at once; GET shows it on each; a reload and a worker restart keep it; --reset undoes it", { timeout: 120_000 }, async () => {
  const [port, adminPort] = await Promise.all([freePort(), freePort()]);
  const file = join(dir, "split.yaml");
  writeFileSync(
    file,
    [
      `listeners: [{ address: "127.0.0.1:${port}" }]`,
      `admin: { address: "127.0.0.1:${adminPort}" }`,
      `services: { blue: { backends: ["${blue.address}"] }, green: { backends: ["${green.address}"] } }`,
      "routers: { shop: { split: { services: [{ service: blue, weight: 100 }, { service: green, weight: 0 }] } } }",
    ].join("\n"),
  );
  const { child, logs } = startBuilt(["-c", file, "--workers", "2"], process.env, { detached: true });
  ownGroup(child);
  const admin = `http://127.0.0.1:${adminPort}`;
  const url = `http://127.0.0.1:${port}/`;
  const weightsOn = async (worker: number) => {
    const res = await get(`${admin}/api/routers/shop/split?worker=${worker}`);
    assert.equal(res.status, 200, res.body);
    const body = JSON.parse(res.body) as { services: { weight: number }[]; overridden: boolean };
    return { weights: body.services.map((s) => s.weight), overridden: body.overridden };
  };
  try {
    await until(() => workerPids(logs()).length === 2 && logs().includes("admin API on"), "two workers and the admin API");
    await allReady(admin);
    assert.deepEqual(new Set(await sides(url, 20)), new Set(["blue"]));

    const flip = await runBuilt(["split", "shop", "blue=0", "green=100", "--admin", admin]);
    assert.equal(flip.code, 0, flip.err);
    assert.match(flip.out, /^router shop: weights set through the admin API at \d{4}-/);
    assert.match(flip.out, /blue +0 +\(configured: 100\)/);
    assert.match(flip.out, /green +100 +\(configured: 0\)/);
    for (const worker of [0, 1]) assert.deepEqual(await weightsOn(worker), { weights: [0, 100], overridden: true }, `worker ${worker}`);
    assert.deepEqual(new Set(await sides(url, 40)), new Set(["green"]), "every worker sends every new request to green");
    const metrics = parseExposition((await get(`${admin}/metrics`)).body, "text");
    for (const worker of ["0", "1"]) {
      assert.equal(sampleValue(metrics, "divisor_split_weight", { worker, router: "shop", service: "green" }), 100);
      assert.equal(sampleValue(metrics, "divisor_split_weights_overridden", { worker, router: "shop" }), 1);
    }

    // SIGHUP re-reads the unchanged file: the flip stays on both workers.
    child.kill("SIGHUP");
    await until(() => (logs().match(/configuration reloaded/g) ?? []).length === 2, "both workers to reload");
    assert.equal((logs().match(/split weights set at run time kept across the reload/g) ?? []).length, 2);
    for (const worker of [0, 1]) assert.deepEqual(await weightsOn(worker), { weights: [0, 100], overridden: true });
    assert.deepEqual(new Set(await sides(url, 20)), new Set(["green"]));

    // A worker that dies is replaced by one that takes over the flip before it serves.
    const [first] = workerPids(logs());
    process.kill(first!, "SIGKILL");
    await until(() => workerPids(logs()).length === 3, "the dead worker to be replaced");
    await allReady(admin);
    assert.match(logs(), /split weights set at run time taken over from the other workers/);
    for (const worker of [0, 1]) assert.deepEqual(await weightsOn(worker), { weights: [0, 100], overridden: true }, `worker ${worker} after the restart`);
    assert.deepEqual(new Set(await sides(url, 40)), new Set(["green"]), "the replacing worker sends no request to blue");

    const show = await runBuilt(["split", "shop", "--admin", admin]);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /weights set through the admin API/);

    const reset = await runBuilt(["split", "shop", "--reset", "--admin", admin]);
    assert.equal(reset.code, 0, reset.err);
    assert.match(reset.out, /^router shop: the configuration's weights\n {2}blue +100\n {2}green +0\n$/);
    for (const worker of [0, 1]) assert.deepEqual(await weightsOn(worker), { weights: [100, 0], overridden: false });
    assert.deepEqual(new Set(await sides(url, 20)), new Set(["blue"]));

    const typo = await runBuilt(["split", "shop", "blue=0", "gren=100", "--admin", admin]);
    assert.equal(typo.code, 1);
    assert.match(typo.err, /answered 422: router "shop" splits between blue, green; "gren" is not one of them \(did you mean "green"\?\)/);
    const notNumber = await runBuilt(["split", "shop", "blue=half", "--admin", admin]);
    assert.equal(notNumber.code, 1);
    assert.match(notNumber.err, /"blue=half" is not service=weight with a whole number ≥ 0/);
    const both = await runBuilt(["split", "shop", "blue=1", "--reset", "--admin", admin]);
    assert.match(both.err, /give weights or --reset, not both/);
    assert.deepEqual(new Set(await sides(url, 10)), new Set(["blue"]), "refused calls changed nothing");
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exitedWithin(child, 20_000), 0);
});

test("divisor split --help says how to give the weights", async () => {
  const help = await runBuilt(["split", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /Usage: divisor split \[options\] <router> \[weights\.\.\.\]/);
  assert.match(help.out, /service=weight for every service of the split/);
  assert.match(help.out, /divisor split shop blue=0 green=100/);
  assert.match(help.out, /--reset/);
});
