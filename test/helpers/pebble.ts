// Debian's pebble (a test-only ACME server, RFC 8555) started by a test in a temp
// dir: its own TLS certificate from a TestCa, validations sent to the gateway's
// ports, names resolved by a test DNS server.
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { TestCa } from "./certs.js";
import { freePort } from "./net.js";

export interface TestPebble {
  /** The ACME directory URL. */
  directory: string;
  /** The CA that pebble's own HTTPS certificate chains to (give it to the gateway's acme.caCertificate). */
  tlsCa: string;
  /** PEM of the root that pebble issues certificates under (management API /roots/0). */
  root(): Promise<string>;
  /** Lines pebble logged (orders, validations), for assertions. */
  log: string[];
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** Port pebble sends HTTP-01 validations to (the gateway's plain listener). */
  httpPort: number;
  /** Port pebble sends tls-alpn-01 validations to (the gateway's HTTPS listener). */
  tlsPort: number;
  /** "127.0.0.1:<port>" of the DNS server pebble resolves names with. */
  dnsServer: string;
  /** Certificate lifetime in seconds (pebble's certificateValidityPeriod); default: pebble's 5 years. */
  validitySeconds?: number;
  /** Names pebble refuses to issue for (rejectedIdentifier). */
  blocklist?: string[];
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

export async function startPebble(dir: string, options: PebbleOptions): Promise<TestPebble> {
  const ca = new TestCa();
  const leaf = ca.issue(["localhost"], "pebble", "localhost", ["127.0.0.1"]);
  const port = await freePort();
  const managementPort = await freePort();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: leaf.cert,
      privateKey: leaf.key,
      httpPort: options.httpPort,
      tlsPort: options.tlsPort,
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
      ...(options.validitySeconds === undefined ? {} : { certificateValidityPeriod: options.validitySeconds }),
      ...(options.blocklist === undefined ? {} : { domainBlocklist: options.blocklist }),
    },
  };
  const file = join(dir, "pebble.json");
  writeFileSync(file, JSON.stringify(config));
  const log: string[] = [];
  const child: ChildProcess = spawn("pebble", ["-config", file, "-dnsserver", options.dnsServer], {
    stdio: ["ignore", "pipe", "pipe"],
    // No random sleep before validations, no nonce rejected on purpose, no authorization reused between orders.
    env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0" },
  });
  const collect = (d: Buffer) => log.push(...d.toString().split("\n").filter((l) => l !== ""));
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    }
    ca.close();
  };
  const directory = `https://127.0.0.1:${port}/dir`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    try {
      if ((await get(directory, ca.caPem)).status === 200) {
        return {
          directory,
          tlsCa: ca.caPem,
          root: async () => (await get(`https://127.0.0.1:${managementPort}/roots/0`, ca.caPem)).body,
          log,
          stop,
        };
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`pebble did not start: ${log.slice(-20).join("\n")}`);
}
