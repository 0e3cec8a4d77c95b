import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseConfigText, loadConfigFile, validateConfig } from "../../src/config/load.js";
import { ConfigError, type ConfigIssue } from "../../src/errors.js";

/** The issues parseConfigText throws for `text` (fails the test if it does not throw). */
function issuesOf(text: string, env: Record<string, string> = {}): ConfigIssue[] {
  try {
    parseConfigText(text, "divisor.yaml", { env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, "ERR_CONFIG_INVALID");
    return [...err.issues];
  }
  assert.fail("expected the configuration to be rejected");
}

function only(text: string): ConfigIssue {
  const issues = issuesOf(text);
  assert.equal(issues.length, 1, `expected one issue, got:\n${issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`).join("\n")}`);
  return issues[0]!;
}

const LISTENER = "listeners:\n  - address: 127.0.0.1:8080\n";

describe("parseConfigText", () => {
  it("reports a YAML syntax error with its line and column", () => {
    const issue = only("listeners:\n  - address: 127.0.0.1:8080\n    name: [a, b\nservices: {}\n");
    assert.equal(issue.file, "divisor.yaml");
    assert.equal(issue.path, "");
    assert.equal(issue.line, 4);
    assert.equal(issue.column, 1);
    assert.match(issue.message, /^YAML syntax: /);
  });

  it("reports a key written twice as a syntax error on the second one", () => {
    const issue = only("listeners:\n  - address: 127.0.0.1:8080\n    address: 127.0.0.1:8081\n");
    assert.deepEqual([issue.line, issue.column], [3, 5]);
    assert.match(issue.message, /unique/);
  });

  it("reports a second document and an alias without an anchor as syntax errors", () => {
    const second = only(`${LISTENER}---\nlisteners: []\n`);
    assert.deepEqual([second.line, second.column], [3, 1]);
    assert.equal(second.message, "YAML syntax: a configuration is a single YAML document; remove the second one (after ---)");
    const alias = only(`${LISTENER}services:\n  api: *base\n`);
    assert.deepEqual([alias.line, alias.column, alias.message], [4, 8, "YAML syntax: alias *base has no anchor &base before it"]);
  });

  it("points a type error in a nested value at the value, with its document path", () => {
    const text = `${LISTENER}services:\n  api:\n    backends:\n      - address: 10.0.0.1:80\n        weight: heavy\n`;
    const issue = only(text);
    assert.deepEqual(issue, {
      file: "divisor.yaml",
      line: 7,
      column: 17,
      path: "services.api.backends[0].weight",
      message: 'expected a whole number, 0 or more, found "heavy"',
    });
  });

  it("points an unknown top-level key at the key and suggests the close one", () => {
    const issue = only(`${LISTENER}servics:\n  api:\n    backends: [10.0.0.1:80]\n`);
    assert.deepEqual(issue, {
      file: "divisor.yaml",
      line: 3,
      column: 1,
      path: "servics",
      message: 'unknown key "servics" (did you mean "services"?)',
    });
  });

  it("reports a misspelt required key once, as unknown with a suggestion, not also as missing", () => {
    const issue = only("listeners:\n  - adress: 127.0.0.1:8080\n");
    assert.deepEqual([issue.line, issue.column, issue.path], [2, 5, "listeners[0].adress"]);
    assert.equal(issue.message, 'unknown key "adress" (did you mean "address"?)');
  });

  it("suggests the discriminator key when it is misspelt", () => {
    const issue = only(`${LISTENER}services:\n  api:\n    backends: [10.0.0.1:80]\n    balancer:\n      algoritm: random\n`);
    assert.deepEqual([issue.line, issue.column, issue.path], [7, 7, "services.api.balancer.algoritm"]);
    assert.equal(issue.message, 'unknown key "algoritm" (did you mean "algorithm"?)');
  });

  it("lists the known keys when an unknown key is close to none of them", () => {
    const issue = only(`${LISTENER}shutdown:\n  drain: 5s\n`);
    assert.equal(issue.path, "shutdown.drain");
    assert.equal(issue.message, 'unknown key "drain"; expected one of "gracePeriod"');
  });

  it("names the allowed values and the close one for a wrong discriminator value", () => {
    const issue = only(`${LISTENER}services:\n  api:\n    backends: [10.0.0.1:80]\n    balancer: { algorithm: round-robbin }\n`);
    assert.deepEqual(issue, {
      file: "divisor.yaml",
      line: 6,
      column: 28,
      path: "services.api.balancer.algorithm",
      message:
        'unknown algorithm "round-robbin" (did you mean "round-robin"?); expected one of "round-robin", "weighted-round-robin", "least-connections", "random", "p2c-ewma" or "consistent-hash"',
    });
  });

  it("names the allowed values of an enum and suggests the close one", () => {
    const text = `${LISTENER}services:\n  api:\n    backends: [10.0.0.1:80]\n    sticky: { sameSite: strict }\n`;
    const issue = only(text);
    assert.equal(issue.path, "services.api.sticky.sameSite");
    assert.equal(issue.message, 'expected one of "Lax", "Strict" or "None", found "strict" (did you mean "Strict"?)');
  });

  it("lists the allowed values of a union of literals", () => {
    const text = `${LISTENER}middlewares:\n  r: { type: redirect, status: 305 }\n`;
    assert.equal(only(text).message, "expected one of 301, 302, 303, 307 or 308, found 305");
  });

  it("points a missing required key at the mapping that should hold it", () => {
    const issue = only(`${LISTENER}tenants:\n  acme:\n    routers: {}\n`);
    assert.deepEqual(issue, {
      file: "divisor.yaml",
      line: 5,
      column: 5,
      path: "tenants.acme.hosts",
      message: 'missing required key "hosts" (expected a list)',
    });
  });

  it("asks a service without backends for some, or for discovery", () => {
    const issue = only(`${LISTENER}services:\n  api:\n    preserveHost: false\n`);
    assert.deepEqual([issue.line, issue.column, issue.path], [5, 5, "services.api.backends"], "the issue points at the service");
    assert.equal(issue.message, "a service needs at least one backend (or discovery: { provider: <name> } to take them from a provider)");
  });

  it("names an unknown discovery provider and refuses two providers of one name", () => {
    const text = `${LISTENER}services:\n  api:\n    discovery: { provider: dsn }\nproviders:\n  - { type: file, path: a.yaml }\n  - { type: file, path: b.yaml }\n`;
    const err = (() => {
      try {
        parseConfigText(text, "divisor.yaml");
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error("the configuration was accepted");
    })();
    assert.deepEqual(
      err.issues.map((i) => [i.path, i.message]),
      [
        ["services.api.discovery.provider", 'unknown provider "dsn"; defined providers: "file"'],
        ["providers[1]", 'provider name "file" is already used by providers[0]; give each provider a distinct name'],
      ],
      "both problems are reported",
    );
  });

  it("asks for the discriminator when a union member lacks it", () => {
    const issue = only(`${LISTENER}middlewares:\n  h: { request: { set: { X-A: b } } }\n`);
    assert.deepEqual([issue.line, issue.column, issue.path], [4, 6, "middlewares.h.type"]);
    assert.match(issue.message, /^missing required key "type" \(expected one of "headers", "strip-prefix",/);
  });

  it("explains a bad duration with examples and the value found", () => {
    const issue = only("listeners:\n  - address: 127.0.0.1:8080\n    timeouts:\n      idle: 10 seconds\n");
    assert.deepEqual([issue.line, issue.column, issue.path], [4, 13, "listeners[0].timeouts.idle"]);
    assert.equal(issue.message, 'expected a duration like "250ms", "10s", "1m" or a number of milliseconds, found "10 seconds"');
  });

  it("explains a duration of the wrong type the same way", () => {
    const issue = only("listeners:\n  - address: 127.0.0.1:8080\n    timeouts: { idle: true }\n");
    assert.equal(issue.message, 'expected a duration like "250ms", "10s", "1m" or a number of milliseconds, found true');
  });

  it("keeps the schema's own message and adds what was found", () => {
    const issue = only("listeners:\n  - address: localhost\n");
    assert.deepEqual([issue.line, issue.column], [2, 14]);
    assert.equal(issue.message, 'expected "host:port", e.g. "127.0.0.1:8080" or "[::1]:8080", found "localhost"');
  });

  it("reports a port above 65535", () => {
    assert.equal(only("listeners:\n  - address: 127.0.0.1:70000\n").message, 'port must be 0..65535; found "127.0.0.1:70000"');
  });

  it("says which keys pick a path match when none is written, and when two are", () => {
    const none = only(`${LISTENER}routers:\n  r:\n    service: s\n    match: { path: {} }\nservices:\n  s: { backends: [a:1] }\n`);
    assert.equal(none.path, "routers.r.match.path");
    assert.equal(none.message, 'expected one of the keys "exact", "prefix", "pattern" or "regex"');
    const two = only(`${LISTENER}routers:\n  r:\n    service: s\n    match: { path: { exact: /, prefix: / } }\nservices:\n  s: { backends: [a:1] }\n`);
    assert.equal(two.message, 'expected only one of the keys "exact", "prefix", "pattern" or "regex", found "exact" and "prefix"');
  });

  it("narrows a union to the branch the value was written for", () => {
    const issues = issuesOf(`${LISTENER}services:\n  s:\n    backends: [5, { address: a:1, weight: -1 }, { adress: a:1 }]\n`);
    assert.deepEqual(
      issues.map((i) => [i.path, i.message]),
      [
        ["services.s.backends[0]", 'expected "host:port" or a mapping, found 5'],
        ["services.s.backends[1].weight", "expected a whole number of 0 or more, found -1"],
        ["services.s.backends[2].adress", 'unknown key "adress" (did you mean "address"?)'],
      ],
    );
  });

  it("rejects a name that is not a valid name, pointing at the name", () => {
    const issue = only(`${LISTENER}services:\n  "my api":\n    backends: [a:1]\n`);
    assert.deepEqual([issue.line, issue.column, issue.path], [4, 3, 'services["my api"]']);
    assert.equal(issue.message, "invalid name \"my api\": names are letters, digits, '_', '.', '-'");
  });

  it("reports every problem at once, in document order", () => {
    const text = "servics: {}\nlisteners:\n  - address: nowhere\n    maxConnections: -5\n";
    const issues = issuesOf(text);
    assert.deepEqual(
      issues.map((i) => `${i.line}:${i.column} ${i.path}`),
      ["1:1 servics", "3:14 listeners[0].address", "4:21 listeners[0].maxConnections"],
    );
  });

  it("formats the error message for a terminal", () => {
    const text = "listeners:\n  - address: localhost\nservics: {}\n";
    assert.throws(
      () => parseConfigText(text, "divisor.yaml", { env: {} }),
      (err: Error) => {
        assert.equal(
          err.message,
          [
            "invalid configuration (2 problems):",
            "  divisor.yaml:2:14  listeners[0].address",
            '    expected "host:port", e.g. "127.0.0.1:8080" or "[::1]:8080", found "localhost"',
            "  divisor.yaml:3:1  servics",
            '    unknown key "servics" (did you mean "services"?)',
          ].join("\n"),
        );
        return true;
      },
    );
  });

  it("rejects an empty document", () => {
    const issue = only("# nothing here\n");
    assert.equal(issue.message, 'the document is empty; expected a mapping with at least "listeners"');
  });

  it("reports a document that is not a mapping", () => {
    assert.equal(only("- a\n- b\n").message, "expected a mapping, found a list of 2 items");
  });

  it("reads JSON, which is YAML too", () => {
    const config = parseConfigText('{\n\t"listeners": [{ "address": "127.0.0.1:8080" }]\n}\n', "divisor.json");
    assert.equal(config.listeners[0]!.address, "127.0.0.1:8080");
    const issue = issuesOf('{\n  "listeners": [{ "address": "127.0.0.1:8080", "maxConections": 3 }]\n}\n')[0]!;
    assert.deepEqual([issue.line, issue.column, issue.message], [2, 48, 'unknown key "maxConections" (did you mean "maxConnections"?)']);
  });

  it("locates problems in merged anchors where they are written", () => {
    const text = `${LISTENER}x-defaults: &defaults\n  backends: [a:1]\n  preserveHost: maybe\nservices:\n  api:\n    <<: *defaults\n`;
    const issues = issuesOf(text);
    const bad = issues.find((i) => i.path === "services.api.preserveHost");
    assert.ok(bad, "the merged value is checked");
    assert.deepEqual([bad.line, bad.column, bad.message], [5, 17, 'expected true or false, found "maybe"']);
  });

  it("reports schema and reference problems together", () => {
    const text = `${LISTENER}services:\n  api: { backends: [a:1], preserveHost: 1 }\nrouters:\n  web: { service: apii }\n`;
    assert.deepEqual(
      issuesOf(text).map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`),
      ["4:41 services.api.preserveHost: expected true or false, found 1", '6:19 routers.web.service: unknown service "apii" (did you mean "api"?)'],
    );
  });
});

describe("validateConfig", () => {
  it("returns the configuration with defaults filled in", () => {
    const config = validateConfig({ listeners: [{ address: "127.0.0.1:0" }] });
    assert.equal(config.shutdown.gracePeriod, 30_000);
    assert.deepEqual(config.services, {});
  });

  it("reports config-as-code problems without line numbers", () => {
    assert.throws(
      () => validateConfig({ listeners: [{ address: "127.0.0.1:0", maxConnections: "many" }] }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.issues, [
          { file: "<config>", line: 0, column: 0, path: "listeners[0].maxConnections", message: 'expected a whole number, 0 or more, found "many"' },
        ]);
        assert.equal(err.message, 'invalid configuration (1 problem):\n  <config>  listeners[0].maxConnections\n    expected a whole number, 0 or more, found "many"');
        return true;
      },
    );
  });
});

/** Runs `fn` with a fresh temp dir, removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "divisor-config-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("loadConfigFile", () => {
  it("loads a file and names it in errors", () =>
    withTempDir(async (dir) => {
      const good = join(dir, "good.yaml");
      await writeFile(good, LISTENER);
      assert.equal((await loadConfigFile(good)).listeners[0]!.address, "127.0.0.1:8080");
      const bad = join(dir, "bad.yaml");
      await writeFile(bad, "listeners: []\n");
      await assert.rejects(loadConfigFile(bad), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.issues, [{ file: bad, line: 1, column: 12, path: "listeners", message: "at least one listener is needed; found an empty list" }]);
        return true;
      });
    }));

  it("names a missing file", () =>
    withTempDir(async (dir) => {
      const missing = join(dir, "nope.yaml");
      await assert.rejects(loadConfigFile(missing), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.issues[0]!.file, missing);
        assert.equal(err.issues[0]!.message, "cannot read the configuration file: no such file");
        return true;
      });
    }));
});
