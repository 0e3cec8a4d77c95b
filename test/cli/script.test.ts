import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { assertBuilt, ROOT, runBuilt } from "../helpers/cli.js";

describe("divisor script test", () => {
  let dir: string;
  before(() => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), "divisor-script-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("prints the phases run and what the script changed on the request and the response", async () => {
    const run = await runBuilt(["script", "test", "scripts/lua/header-rewrite.lua", "--request", "GET /v1/users?page=2", "--host", "acme.example.com", "--response-header", "x-powered-by: php"], { cwd: ROOT });
    assert.equal(run.code, 0, `exit 0: ${run.err}`);
    assert.match(run.out, /^phases: onRequest ok, onResponse ok$/m, run.out);
    assert.match(run.out, /onRequest: set-request-header x-api-version "2"/, run.out);
    assert.match(run.out, /onRequest: set-request-header x-tenant "acme"/, run.out);
    assert.match(run.out, /onResponse: remove-response-header x-powered-by/, run.out);
    assert.match(run.out, /^to the backend: GET \/v1\/users\?page=2$/m, run.out);
    assert.match(run.out, /^ {2}x-tenant: acme$/m, run.out);
    assert.match(run.out, /^to the client: 200\n {2}x-served-by: divisor$/m, run.out);
  });

  test("--json reports the service a script picked and a direct answer", async () => {
    const canary = await runBuilt(["script", "test", "scripts/lua/canary-header.lua", "-H", "x-canary: 1", "--var", "canary=canary", "--services", "stable,canary", "--json"], { cwd: ROOT });
    assert.equal(canary.code, 0, canary.err);
    assert.equal(JSON.parse(canary.out).service, "canary", "the canary was picked");
    const down = await runBuilt(["script", "test", "scripts/lua/maintenance.lua", "--var", "maintenance=on", "--json"], { cwd: ROOT });
    const report = JSON.parse(down.out);
    assert.equal(report.respond.status, 503, "maintenance answers directly");
    assert.equal(report.upstream, null, "nothing goes upstream");
  });

  test("a failing phase is reported and exits 1", async () => {
    const file = join(dir, "fails.lua");
    writeFileSync(file, 'function onRequest()\n  error("no tenant header")\nend\n');
    const run = await runBuilt(["script", "test", file]);
    assert.equal(run.code, 1, "exit 1");
    assert.match(run.out, /onRequest failed: .*no tenant header/, run.out);
  });

  test("a script using a forbidden library is refused with its line and exits 1", async () => {
    const file = join(dir, "os.lua");
    writeFileSync(file, "function onRequest()\n  os.execute('id')\nend\n");
    const run = await runBuilt(["script", "test", file]);
    assert.equal(run.code, 1, "exit 1");
    assert.match(run.err, /line 2: `os` is not available in scripts/, run.err);
  });
});
