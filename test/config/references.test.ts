import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfigText, validateConfig } from "../../src/config/load.js";
import { checkReferences } from "../../src/config/references.js";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { ConfigError, type ConfigIssue } from "../../src/errors.js";

function referenceProblems(input: DivisorConfigInput): [string, string][] {
  try {
    validateConfig(input);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues.map((i) => [i.path, i.message]);
  }
  return [];
}

const listeners = [{ address: "127.0.0.1:8080" }];
const services = { api: { backends: ["10.0.0.1:80"] }, web: { backends: ["10.0.0.2:80"] } };

describe("checkReferences", () => {
  it("accepts routers that name existing services and middlewares, and unused services", () => {
    const config = validateConfig({
      listeners,
      services,
      middlewares: { strip: { type: "strip-prefix", prefixes: ["/api"] } },
      routers: { api: { service: "api", middlewares: ["strip"] } },
    });
    assert.deepEqual(checkReferences(config), []);
  });

  it("reports an unknown service with the close name", () => {
    assert.deepEqual(referenceProblems({ listeners, services, routers: { r: { service: "apii" } } }), [
      ["routers.r.service", 'unknown service "apii" (did you mean "api"?)'],
    ]);
  });

  it("lists the defined services when none is close, and says when there are none", () => {
    assert.deepEqual(referenceProblems({ listeners, services, routers: { r: { service: "billing" } } }), [
      ["routers.r.service", 'unknown service "billing"; defined services: "api", "web"'],
    ]);
    assert.deepEqual(referenceProblems({ listeners, routers: { r: { service: "api" } } }), [["routers.r.service", 'unknown service "api"; no services are defined']]);
  });

  it("reports an unknown middleware by its place in the list", () => {
    const input: DivisorConfigInput = {
      listeners,
      services,
      middlewares: { "strip-api": { type: "strip-prefix", prefixes: ["/api"] } },
      routers: { r: { service: "api", middlewares: ["strip-api", "strip-apj", "auth"] } },
    };
    assert.deepEqual(referenceProblems(input), [
      ["routers.r.middlewares[1]", 'unknown middleware "strip-apj" (did you mean "strip-api"?)'],
      ["routers.r.middlewares[2]", 'unknown middleware "auth"; defined middlewares: "strip-api"'],
    ]);
  });

  it("checks the routers of tenants too", () => {
    const input: DivisorConfigInput = { listeners, services, tenants: { acme: { hosts: ["acme.example"], routers: { r: { service: "wbe" } } } } };
    assert.deepEqual(referenceProblems(input), [["tenants.acme.routers.r.service", 'unknown service "wbe" (did you mean "web"?)']]);
  });

  it("requires a service unless a redirect middleware answers", () => {
    const middlewares = { https: { type: "redirect" as const, scheme: "https" as const }, h: { type: "headers" as const } };
    assert.deepEqual(referenceProblems({ listeners, middlewares, routers: { ok: { middlewares: ["https"] }, bad: { middlewares: ["h"] } } }), [
      ["routers.bad.service", 'missing key "service": a router needs a service (or a split) unless one of its middlewares is a redirect, a lua script or a plugin'],
    ]);
  });

  it("reports two listeners on the same host and port, but not on port 0", () => {
    const input: DivisorConfigInput = {
      listeners: [{ address: "127.0.0.1:8080" }, { address: "127.0.0.1:0" }, { address: "127.0.0.1:0" }, { address: "127.0.0.1:8080" }, { address: "127.0.0.2:8080" }],
    };
    assert.deepEqual(referenceProblems(input), [["listeners[3].address", 'address "127.0.0.1:8080" is already used by listeners[0]']]);
  });

  it("returns issues located by path only", () => {
    // Validated configs are frozen: change a copy.
    const config = structuredClone(validateConfig({ listeners, services }));
    config.routers.r = { match: {}, service: "nope", middlewares: [] };
    const expected: ConfigIssue = { file: "<config>", line: 0, column: 0, path: "routers.r.service", message: 'unknown service "nope"; defined services: "api", "web"' };
    assert.deepEqual(checkReferences(config), [expected]);
  });

  it("gets line and column from the YAML loader", () => {
    const text = "listeners:\n  - address: 127.0.0.1:8080\nrouters:\n  r:\n    service: api\n    middlewares: [auth]\n";
    assert.throws(
      () => parseConfigText(text, "d.yaml", { env: {} }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(
          err.issues.map((i) => `${i.line}:${i.column} ${i.path}`),
          ["5:14 routers.r.service", "6:19 routers.r.middlewares[0]"],
        );
        return true;
      },
    );
  });
});
