import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type AcmeStorage, openStorage } from "../../../src/listener/acme/storage.js";
import { startEtcd, type TestEtcd } from "../../helpers/etcd.js";
import { freePort } from "../../helpers/net.js";
import { kill, startRedis } from "../../helpers/redis.js";

describe("ACME storages: values and the order lock (a directory, a real redis-server, a real etcd)", () => {
  let dir: string;
  let redis: ChildProcess;
  let redisPort: number;
  let etcd: TestEtcd;
  const opened: AcmeStorage[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "divisor-acme-storage-"));
    redisPort = await freePort();
    redis = await startRedis(dir, redisPort);
    etcd = await startEtcd(join(dir, "etcd"));
  });

  after(async () => {
    for (const s of opened) await s.close();
    await kill(redis);
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const kinds = {
    file: () => openStorage({ type: "file", path: join(dir, "files") }),
    redis: () => openStorage({ type: "redis", url: `redis://127.0.0.1:${redisPort}`, keyPrefix: "t:" }),
    etcd: () => openStorage({ type: "etcd", endpoints: [etcd.endpoint], prefix: "/t/" }),
  };

  for (const [kind, open] of Object.entries(kinds)) {
    test(`${kind}: a value put is read back by another client, and gone once deleted`, async () => {
      const a = open();
      const b = open();
      opened.push(a, b);
      assert.equal(await a.get("certificates/x.example.com.json"), null, "absent at first");
      await a.put("certificates/x.example.com.json", '{"cert":"c"}');
      assert.equal(await b.get("certificates/x.example.com.json"), '{"cert":"c"}', "the other client reads it");
      await b.delete("certificates/x.example.com.json");
      assert.equal(await a.get("certificates/x.example.com.json"), null, "deleted");
    });

    test(`${kind}: one holder at a time gets the lock; it is free again once released`, async () => {
      const a = open();
      const b = open();
      opened.push(a, b);
      const unlock = await a.tryLock(`locks/${kind}.example.com`, 30_000);
      assert.ok(unlock !== null, "the first takes it");
      assert.equal(await b.tryLock(`locks/${kind}.example.com`, 30_000), null, "the second is refused while it is held");
      await unlock();
      const again = await b.tryLock(`locks/${kind}.example.com`, 30_000);
      assert.ok(again !== null, "free after release");
      await again();
    });
  }

  test("file: a lock left by a holder that died is free once it expires, and the old holder's release does not free the new one's", async () => {
    const s = kinds.file();
    const first = await s.tryLock("locks/stale.example.com", 1);
    assert.ok(first !== null, "taken");
    await new Promise((r) => setTimeout(r, 20));
    const second = await s.tryLock("locks/stale.example.com", 30_000);
    assert.ok(second !== null, "taken over after expiry");
    await first();
    assert.equal(await s.tryLock("locks/stale.example.com", 30_000), null, "the stale holder's release left the new lock in place");
    await second();
  });

  test("redis: the lock expires (PX) and a late release does not delete the next holder's lock (compare-and-delete)", async () => {
    const s = kinds.redis();
    opened.push(s);
    const first = await s.tryLock("locks/px.example.com", 50);
    assert.ok(first !== null, "taken");
    await new Promise((r) => setTimeout(r, 120));
    const second = await s.tryLock("locks/px.example.com", 30_000);
    assert.ok(second !== null, "taken after expiry");
    await first();
    assert.equal(await s.tryLock("locks/px.example.com", 30_000), null, "still held by the second");
    await second();
  });

  test("file: values are written with mode 0600 (private keys) and keys cannot climb out of the directory", async () => {
    const s = kinds.file();
    await s.put("certificates/m.example.com.json", "secret");
    assert.equal(statSync(join(dir, "files", "certificates", "m.example.com.json")).mode & 0o777, 0o600, "owner-only");
    writeFileSync(join(dir, "outside"), "x");
    await assert.rejects(s.get("../outside"), /invalid ACME storage key/, "a key with .. is refused");
  });
});
