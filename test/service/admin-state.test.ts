import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { serviceSchema } from "../../src/config/schema.js";
import { setAdminState } from "../../src/service/admin-state.js";
import { BackendRegistry, DownReason, setDown } from "../../src/service/service.js";

function build(service: Record<string, unknown>) {
  const registry = new BackendRegistry();
  const runtime = registry.build("api", serviceSchema.parse({ backends: ["10.0.0.1:80", "10.0.0.2:80"], ...service }), new Set());
  return { registry, backends: runtime.backends };
}

describe("setAdminState", () => {
  test("maintenance takes the backend out of rotation entirely; active brings it back", () => {
    const { registry, backends } = build({});
    const b = backends[0]!;
    setAdminState(b, "maintenance");
    assert.equal(b.available, false);
    assert.equal(b.drained, false, "sticky sessions and hash keys lose it too");
    assert.deepEqual(registry.snapshot()[0]!.unavailableBecause, ["maintenance"]);
    setAdminState(b, "active");
    assert.equal(b.available, true);
    assert.deepEqual(registry.snapshot()[0]!.unavailableBecause, []);
  });

  test("drain takes the backend out of rotation but keeps it for pinned clients", () => {
    const { registry, backends } = build({});
    setAdminState(backends[0]!, "drain");
    assert.equal(backends[0]!.available, false);
    assert.equal(backends[0]!.drained, true);
    const snapshot = registry.snapshot()[0]!;
    assert.equal(snapshot.available, false);
    assert.equal(snapshot.adminState, "drain");
    assert.deepEqual(snapshot.unavailableBecause, ["drain"]);
  });

  test("ending maintenance leaves a backend out while its health checks still fail", () => {
    const { backends } = build({});
    const b = backends[0]!;
    setDown(b, DownReason.Health, true);
    setAdminState(b, "drain");
    assert.equal(b.drained, false, "a failing backend serves no pinned client either");
    setAdminState(b, "maintenance");
    setAdminState(b, "active");
    assert.equal(b.available, false);
    setDown(b, DownReason.Health, false);
    assert.equal(b.available, true);
    assert.equal(b.drained, false);
  });

  test("a backend back from drain or maintenance ramps up through slow start", () => {
    for (const from of ["drain", "maintenance"] as const) {
      const { backends } = build({ backends: [{ address: "10.0.0.1:80", weight: 10 }], slowStart: "10s" });
      const b = backends[0]!;
      setAdminState(b, from);
      assert.equal(b.weight, 10);
      setAdminState(b, "active");
      assert.equal(b.weight, 1, `${from}: starts at 10% of its weight`);
      assert.ok(b.rampStart > 0);
    }
  });

  test("a reload that keeps the backend keeps its admin state", () => {
    const { registry, backends } = build({});
    setAdminState(backends[1]!, "maintenance");
    const again = registry.build("api", serviceSchema.parse({ backends: ["10.0.0.2:80", "10.0.0.3:80"] }), new Set());
    assert.equal(again.backends[0], backends[1]);
    assert.equal(again.backends[0]!.adminState, "maintenance");
    assert.equal(again.backends[1]!.adminState, "active");
  });
});
