import { type ChildProcess, spawn } from "node:child_process";
import { freePort } from "./net.js";

/** A real etcd (Debian's etcd-server) with its data in `dir`, on free loopback ports. */
export interface TestEtcd {
  child: ChildProcess;
  /** The client URL, "http://127.0.0.1:<port>". */
  endpoint: string;
  /** The client and peer ports (to start it again in the same place). */
  ports: { client: number; peer: number };
  stop(): Promise<void>;
}

/**
 * Starts etcd in `dir` and waits until it answers its health endpoint. `ports` starts it
 * again where a stopped one was (same data in `dir`), for tests of clients reconnecting.
 */
export async function startEtcd(dir: string, ports: { client?: number; peer?: number } = {}): Promise<TestEtcd> {
  const clientPort = ports.client ?? (await freePort());
  const peerPort = ports.peer ?? (await freePort());
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child = spawn(
    "etcd",
    [
      "--name", "test",
      "--data-dir", dir,
      "--listen-client-urls", endpoint,
      "--advertise-client-urls", endpoint,
      "--listen-peer-urls", peer,
      "--initial-advertise-peer-urls", peer,
      "--initial-cluster", `test=${peer}`,
      "--log-level", "error",
    ],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch === "x64" ? "" : process.arch } },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  };
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(`${endpoint}/health`);
      if (res.ok) return { child, endpoint, ports: { client: clientPort, peer: peerPort }, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`etcd did not start on ${endpoint}: ${stderr.slice(-2000)}`);
}
