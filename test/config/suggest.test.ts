import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatPath } from "../../src/config/path.js";
import { didYouMean } from "../../src/config/suggest.js";

describe("didYouMean", () => {
  it("suggests a known word one or two edits away", () => {
    assert.equal(didYouMean("servics", ["listeners", "services", "routers"]), "services");
    assert.equal(didYouMean("adress", ["name", "address", "limits"]), "address");
    assert.equal(didYouMean("round-robbin", ["round-robin", "random"]), "round-robin");
  });

  it("ignores case and counts two swapped letters as one typo", () => {
    assert.equal(didYouMean("maxconnections", ["maxConnections"]), "maxConnections");
    assert.equal(didYouMean("wbe", ["web", "api"]), "web");
  });

  it("suggests nothing for a word that is far from every candidate", () => {
    assert.equal(didYouMean("drain", ["gracePeriod"]), undefined);
    assert.equal(didYouMean("ab", ["xy"]), undefined);
  });
});

describe("formatPath", () => {
  it("writes keys with dots, indexes in brackets and unusual keys quoted", () => {
    assert.equal(formatPath(["services", "api", "backends", 0, "address"]), "services.api.backends[0].address");
    assert.equal(formatPath(["tenants", "acme.com", "routers", "my-router"]), 'tenants["acme.com"].routers.my-router');
    assert.equal(formatPath([]), "");
  });
});
