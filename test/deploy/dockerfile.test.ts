/**
 * The Dockerfile, built without Docker (no engine runs here): its stages' steps run
 * as a script in a temp dir (test/deploy/dockerfile.ts), then the gateway starts as
 * the image's ENTRYPOINT + CMD would, with the image's own divisor.yaml, and the
 * HEALTHCHECK command is run against it.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT } from "../helpers/cli.js";
import { freePort, get } from "../helpers/net.js";
import { exitedWithin, outputOf, ownGroup } from "../helpers/process.js";
import { readyStatus } from "./readiness.js";
import { type BuiltImage, buildDockerfile, type Dockerfile, imagePath, parseDockerfile } from "./dockerfile.js";

const dockerfile: Dockerfile = parseDockerfile(readFileSync(join(ROOT, "Dockerfile"), "utf8"));
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
/** The lock file marks packages only dev dependencies need with "dev": true; a dev dependency a production one also needs (protobufjs needs @types/node) belongs in the image. */
const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean }> };
const devOnly = Object.keys(pkg.devDependencies).filter((name) => lock.packages[`node_modules/${name}`]?.dev === true);
const TOKEN = "docker-test-token-0123456789";

describe("the Dockerfile", () => {
  test("builds on a Node image of the major version the project runs on", () => {
    const bases = new Set(dockerfile.stages.map((s) => s.base));
    assert.equal(bases.size, 1, `every stage should start from the same base image, got ${[...bases].join(", ")}`);
    const base = [...bases][0]!;
    const major = /^node:(\d+)-/.exec(base)?.[1];
    assert.ok(major !== undefined, `the base image should be an official node:<major>-... image, got ${base}`);
    assert.equal(major, process.versions.node.split(".")[0], `the image's Node major (${base}) should be the one the tests run on (${process.versions.node})`);
  });

  test("has a build stage and a production-dependencies stage before the image", () => {
    assert.ok(dockerfile.stages.length >= 3, `expected build, deps and the final stage, got ${dockerfile.stages.length} stage(s)`);
    const runs = dockerfile.stages.flatMap((s) => s.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args));
    assert.ok(
      runs.some((r) => /npm ci\b.*--omit=dev/.test(r)),
      `a RUN step should install production dependencies only (npm ci --omit=dev); RUN steps: ${runs.join(" | ")}`,
    );
    const last = dockerfile.stages.at(-1)!;
    assert.ok(!last.instructions.some((i) => i.keyword === "RUN"), "the final stage should only copy what earlier stages built (no RUN: no build tools or caches in the image)");
  });

  test("runs as a numeric non-root user, with a health check, in exec form", () => {
    const last = dockerfile.stages.at(-1)!.instructions;
    const user = last.find((i) => i.keyword === "USER")?.args;
    assert.ok(user !== undefined, "the final stage should set USER");
    const uid = Number(user.split(":")[0]);
    assert.ok(Number.isInteger(uid) && uid > 0, `USER should be a numeric uid other than 0 (so Kubernetes can check runAsNonRoot), got ${user}`);
    assert.ok(
      last.some((i) => i.keyword === "HEALTHCHECK"),
      "the final stage should have a HEALTHCHECK",
    );
    for (const keyword of ["ENTRYPOINT", "CMD"]) {
      const ins = last.find((i) => i.keyword === keyword);
      assert.ok(ins?.args.startsWith("["), `${keyword} should use the exec form so the gateway is PID 1 and gets SIGTERM, got ${ins?.args}`);
    }
  });
});

describe("running a Dockerfile's steps (test/deploy/dockerfile.ts)", () => {
  const attempt = async (text: string, files: Record<string, string> = {}) => {
    const context = mkdtempSync(join(tmpdir(), "divisor-dockerfile-context-"));
    const out = mkdtempSync(join(tmpdir(), "divisor-dockerfile-out-"));
    try {
      for (const [name, content] of Object.entries(files)) writeFileSync(join(context, name), content);
      return await buildDockerfile(parseDockerfile(text), context, out);
    } finally {
      rmSync(context, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  };

  test("fails on a RUN step that fails, naming its line and output", async () => {
    await assert.rejects(attempt("FROM node:20-slim\nWORKDIR /app\nRUN echo building && \\\n  exit 3\n"), /Dockerfile line 3 \(RUN echo building && exit 3\) exited with 3:\nbuilding/);
  });

  test("fails on a COPY of a file that is missing, or excluded by .dockerignore", async () => {
    await assert.rejects(attempt("FROM node:20-slim\nCOPY nothing.txt ./\n"), /line 2 .*nothing\.txt does not exist in the build context/);
    await assert.rejects(attempt("FROM node:20-slim\nCOPY secret.txt ./\n", { "secret.txt": "x", ".dockerignore": "secret.txt\n" }), /secret\.txt is excluded by \.dockerignore/);
  });

  test("copies between stages and refuses an instruction it cannot stand for", async () => {
    const image = await attempt("FROM node:20-slim AS a\nWORKDIR /w\nRUN echo hi > f.txt\nFROM node:20-slim\nWORKDIR /app\nCOPY --from=a /w/f.txt ./\nCMD [\"cat\", \"f.txt\"]\n");
    assert.deepEqual(image.cmd, ["cat", "f.txt"], "CMD in exec form");
    await assert.rejects(attempt("FROM node:20-slim\nVOLUME /data\n"), /does not know how to run VOLUME/);
    await assert.rejects(attempt('FROM node:20-slim\nCMD node server.js\n'), /is not the exec form/);
  });
});

describe("the image, built by running the Dockerfile's steps in a temp dir", () => {
  let dir: string;
  let image: BuiltImage;
  let gateway: ChildProcess | undefined;
  let logs: () => string = () => "";
  let port: number;
  let adminPort: number;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "divisor-dockerfile-"));
    image = await buildDockerfile(dockerfile, ROOT, dir);
    port = await freePort();
    adminPort = await freePort();
    // The image's environment (ENV), plus what `docker run -e` would give; PATH stands for the base image's node.
    env = { PATH: process.env.PATH, HOME: dir, ...image.env, DIVISOR_PORT: String(port), DIVISOR_ADMIN_PORT: String(adminPort), DIVISOR_ADMIN_TOKEN: TOKEN };
  });

  after(async () => {
    if (gateway !== undefined && gateway.exitCode === null) {
      gateway.kill("SIGTERM");
      await exitedWithin(gateway, 10_000).catch(() => {});
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test("holds the production dependencies and none of the dev dependencies", () => {
    const modules = join(image.root, image.workdir, "node_modules");
    for (const name of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(modules, name, "package.json")), `production dependency ${name} should be in the image`);
    assert.ok(devOnly.length > 0, "the lock file should mark dev-only packages");
    for (const name of devOnly) assert.ok(!existsSync(join(modules, name)), `dev dependency ${name} should not be in the image`);
    const cli = readdirSync(join(image.root, image.workdir, "dist/cli"));
    assert.ok(cli.includes("divisor.cjs") && cli.includes("divisor-bundle.cjs") && cli.includes("divisor-bundle.cjs.cache"), `dist/cli should hold the launcher, the bundle and its code cache, got ${cli.join(", ")}`);
    assert.ok(!existsSync(join(image.root, image.workdir, "src")), "the TypeScript sources should stay in the build stage");
  });

  test("the HEALTHCHECK command fails while nothing listens", () => {
    assert.ok(image.healthcheck !== undefined, "the image should have a HEALTHCHECK");
    const [cmd, ...args] = image.healthcheck.command.map((a) => imagePath(image, a));
    const r = spawnSync(cmd!, args, { cwd: join(image.root, image.workdir), env, encoding: "utf8" });
    assert.equal(r.status, 1, `the health check should exit 1 with no gateway running, got ${r.status}: ${r.stdout}${r.stderr}`);
  });

  test("starts the gateway as its ENTRYPOINT and CMD do, and /readyz answers 200", async () => {
    const [cmd, ...args] = [...image.entrypoint, ...image.cmd].map((a) => imagePath(image, a));
    assert.ok(cmd!.startsWith(image.root), `the ENTRYPOINT ${image.entrypoint[0]} should be a file of the image`);
    assert.ok(args.some((a) => a.startsWith(join(image.root, "etc/divisor"))), `CMD should start the image's /etc/divisor config, got ${image.cmd.join(" ")}`);
    gateway = ownGroup(spawn(cmd!, args, { cwd: join(image.root, image.workdir), env, stdio: ["ignore", "pipe", "pipe"], detached: true }));
    logs = outputOf(gateway);
    const ready = await readyStatus(`http://127.0.0.1:${adminPort}/readyz`, gateway);
    assert.equal(ready, 200, `/readyz should answer 200 (got ${ready}); the gateway's exit code: ${gateway.exitCode}:\n${logs()}`);
  });

  test("listens on every interface, serves the listener and guards the admin API with the token", async () => {
    const served = await get(`http://127.0.0.1:${port}/anything`);
    assert.equal(served.status, 404, `the image's config has no routers: the listener should answer 404, got ${served.status} ${served.body}`);
    assert.match(logs(), new RegExp(`0\\.0\\.0\\.0:${port}`), "the listener should be bound to 0.0.0.0 in a container");
    const anonymous = await get(`http://127.0.0.1:${adminPort}/metrics`);
    assert.equal(anonymous.status, 401, `/metrics without a token should be refused, got ${anonymous.status}`);
    const metrics = await get(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(metrics.status, 200, `/metrics with the token should answer, got ${metrics.status}`);
    assert.match(metrics.body, /divisor_http_requests_total/, "the metrics should count the request");
    assert.ok(!logs().includes(TOKEN), "the admin token must never appear in the logs");
  });

  test("the HEALTHCHECK command passes against the running gateway", () => {
    const [cmd, ...args] = image.healthcheck!.command.map((a) => imagePath(image, a));
    const r = spawnSync(cmd!, args, { cwd: join(image.root, image.workdir), env, encoding: "utf8" });
    assert.equal(r.status, 0, `the health check should exit 0, got ${r.status}: ${r.stdout}${r.stderr}`);
  });

  test("stops gracefully on SIGTERM, as docker stop sends it", async () => {
    assert.ok(gateway !== undefined && gateway.exitCode === null, "the gateway should still run");
    gateway.kill("SIGTERM");
    const code = await exitedWithin(gateway, 15_000);
    assert.equal(code, 0, `the gateway should exit 0 after SIGTERM, got ${code}:\n${logs()}`);
    assert.match(logs(), /"msg":"stopped"/, "the gateway should log that it stopped");
  });
});
