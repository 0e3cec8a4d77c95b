import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { balancerSchema, type BalancerConfig } from "../../../src/config/schema.js";
import { algorithms, createBalancer } from "../../../src/service/balancers/index.js";
import { countPicks, makeBackends, makeContext, seededRandom, selectMany } from "./helpers.js";

const configs: Record<BalancerConfig["algorithm"], unknown> = {
  "round-robin": { algorithm: "round-robin" },
  "weighted-round-robin": { algorithm: "weighted-round-robin" },
  "least-connections": { algorithm: "least-connections" },
  random: { algorithm: "random" },
  "p2c-ewma": { algorithm: "p2c-ewma" },
  "consistent-hash": { algorithm: "consistent-hash", key: { source: "client-ip" } },
};
const maglev = { algorithm: "consistent-hash", key: { source: "client-ip" }, method: "maglev" };

const cases: [string, BalancerConfig][] = [
  ...algorithms.map((a): [string, BalancerConfig] => [a, balancerSchema.parse(configs[a])]),
  ["consistent-hash (maglev)", balancerSchema.parse(maglev)],
];

test("the registry knows every algorithm of the schema", () => {
  const inSchema = balancerSchema.options.map((o) => o.shape.algorithm.value).sort();
  assert.deepEqual([...algorithms].sort(), inSchema);
});

for (const [name, config] of cases) {
  describe(`${name} balancer`, () => {
    const options = { random: seededRandom(7) };

    test("returns only available backends with a weight above 0", () => {
      const backends = makeBackends([1, 2, 0, 3, 1]);
      backends[1]!.available = false;
      backends[4]!.available = false;
      const balancer = createBalancer(backends, config, options);
      const ctx = makeContext();
      const picks = [];
      for (let i = 0; i < 500; i++) {
        ctx.clientIp = `198.51.100.${i % 250}`;
        picks.push(balancer.select(ctx));
      }
      const counts = countPicks(backends, picks);
      assert.equal(counts[1]! + counts[2]! + counts[4]!, 0);
      assert.equal(counts[0]! + counts[3]!, 500);
    });

    test("avoids the excluded backend while another is eligible", () => {
      const backends = makeBackends([1, 1, 1]);
      backends[2]!.available = false;
      const balancer = createBalancer(backends, config, options);
      const ctx = makeContext();
      for (let i = 0; i < 200; i++) {
        ctx.clientIp = `198.51.100.${i}`;
        assert.equal(balancer.select(ctx, backends[0]), backends[1]);
      }
    });

    test("returns the excluded backend when it is the only eligible one", () => {
      const backends = makeBackends([1, 1, 1]);
      backends[1]!.available = false;
      backends[2]!.weight = 0;
      const balancer = createBalancer(backends, config, options);
      assert.equal(balancer.select(makeContext(), backends[0]), backends[0]);
    });

    test("returns undefined when no backend is eligible", () => {
      const backends = makeBackends([1, 0, 1]);
      backends[0]!.available = false;
      backends[2]!.available = false;
      const balancer = createBalancer(backends, config, options);
      assert.equal(balancer.select(makeContext()), undefined);
      assert.equal(balancer.select(makeContext(), backends[0]), undefined);
      assert.equal(createBalancer([], config, options).select(makeContext()), undefined);
    });

    test("passes over a drained backend for new work (a consistent hash keeps the keys it owns)", () => {
      const backends = makeBackends([1, 1, 1]);
      const balancer = createBalancer(backends, config, options);
      const ctx = makeContext();
      const ips = Array.from({ length: 240 }, (_, i) => `198.51.100.${i}`);
      const before = new Map(
        ips.map((ip) => {
          ctx.clientIp = ip;
          return [ip, balancer.select(ctx)];
        }),
      );
      backends[1]!.available = false; // drained: out of rotation, kept by the clients pinned to it
      backends[1]!.drained = true;
      const hashing = config.algorithm === "consistent-hash";
      let kept = 0;
      for (const ip of ips) {
        ctx.clientIp = ip;
        const pick = balancer.select(ctx);
        if (hashing) {
          assert.equal(pick, before.get(ip), "every key stays where it was: the drained backend's own and the others'");
          if (pick === backends[1]) kept++;
        } else assert.notEqual(pick, backends[1]);
      }
      if (hashing) assert.ok(kept > 0, "some keys belong to the drained backend");
      // A retry away from backends[0] never lands on the drained one (with hashing: for keys it does not own).
      for (const ip of ips.filter((ip) => before.get(ip) === backends[0])) {
        ctx.clientIp = ip;
        assert.equal(balancer.select(ctx, backends[0]), backends[2], "nor as the fallback of a retry");
      }
    });

    test("picks the one backend of a single-backend service every time", () => {
      const backends = makeBackends([1]);
      const balancer = createBalancer(backends, config);
      assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(makeContext()), 50)), [50]);
    });

    test("explains its choice in words", () => {
      const balancer = createBalancer(makeBackends([1, 1]), config, options);
      assert.match(balancer.describe?.(makeContext()) ?? "", new RegExp(`^${config.algorithm}`));
    });
  });
}
