// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are configuration text with ${VAR} references, not templates
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { expandEnv } from "../../src/config/env.js";
import { parseConfigText } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";

const BASE = "listeners:\n  - address: 127.0.0.1:8080\n";

describe("environment substitution", () => {
  it("substitutes ${VAR} and ${VAR:-default} inside a string", () => {
    const config = parseConfigText('listeners:\n  - address: "${HOST}:${PORT:-8080}"\n', "d.yaml", { env: { HOST: "10.1.2.3" } });
    assert.equal(config.listeners[0]!.address, "10.1.2.3:8080");
  });

  it("uses the default when the variable is set but empty", () => {
    assert.equal(expandEnv("${A:-fallback}", { A: "" }).value, "fallback");
    assert.equal(expandEnv("${A}", { A: "" }).value, "");
  });

  it("reads an unquoted substituted value as YAML would, and keeps a quoted one a string", () => {
    const text = `${BASE}    maxConnections: \${MAX}\nproxy:\n  via: "\${VIA}"\n  forwarded: \${FWD}\n`;
    const config = parseConfigText(text, "d.yaml", { env: { MAX: "250", VIA: "123", FWD: "true" } });
    assert.equal(config.listeners[0]!.maxConnections, 250);
    assert.equal(config.proxy.via, "123");
    assert.equal(config.proxy.forwarded, true);
  });

  it("writes a literal ${ for $${", () => {
    const config = parseConfigText(`${BASE}proxy:\n  via: "$\${NOT_A_VAR}"\n`, "d.yaml", { env: {} });
    assert.equal(config.proxy.via, "${NOT_A_VAR}");
  });

  it("leaves keys and other dollar signs alone", () => {
    const config = parseConfigText(`${BASE}middlewares:\n  m: { type: rewrite-path, regex: "^/a/(.*)$", replacement: /b/$1 }\n`, "d.yaml", { env: {} });
    assert.deepEqual(config.middlewares.m, { type: "rewrite-path", regex: "^/a/(.*)$", replacement: "/b/$1" });
  });

  it("names an unset variable and points at the reference itself", () => {
    assert.throws(
      () => parseConfigText(`${BASE}services:\n  api:\n    backends: ["\${API_HOST}:80", "b:\${B_PORT:-81}"]\n`, "d.yaml", { env: {} }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.issues, [
          {
            file: "d.yaml",
            line: 5,
            column: 17,
            path: "services.api.backends[0]",
            message: "environment variable API_HOST is not set (write ${API_HOST:-default} to give a default)",
          },
        ]);
        return true;
      },
    );
  });

  it("reports a malformed reference", () => {
    assert.throws(
      () => parseConfigText(`${BASE}proxy:\n  via: abc\${oops\n`, "d.yaml", { env: {} }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.issues.length, 1);
        assert.deepEqual([err.issues[0]!.line, err.issues[0]!.column, err.issues[0]!.path], [4, 11, "proxy.via"]);
        assert.equal(err.issues[0]!.message, 'malformed variable reference "${oops"; expected ${NAME} or ${NAME:-default}');
        return true;
      },
    );
  });

  it("reads process.env when no env is given", () => {
    const name = `DIVISOR_TEST_${process.pid}`;
    process.env[name] = "from-process";
    try {
      assert.equal(parseConfigText(`${BASE}proxy: { via: "\${${name}}" }\n`, "d.yaml").proxy.via, "from-process");
    } finally {
      delete process.env[name];
    }
  });
});
