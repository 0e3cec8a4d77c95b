// Active health checks: one checker per backend, on its own unref'd timer, off the request path.
import { connectBackend, type UpstreamTls } from "../upstream/tls.js";
import type { HealthCheckConfig } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";
import { http2Check } from "../http2/health-check.js";

/** Most response bytes an HTTP check reads (status line, headers and the start of the body). */
const MAX_CHECK_RESPONSE = 64 * 1024;

/** What a checker reports to: the backend it watches. */
export interface HealthTarget {
  readonly host: string;
  readonly port: number;
  readonly address: string;
}

/** Result of one check: undefined when healthy, else why not. */
export type CheckResult = string | undefined;

function statusMatcher(expect: readonly (number | string)[]): (status: number) => boolean {
  const ranges = expect.map((e) => {
    if (typeof e === "number") return [e, e] as const;
    const [lo, hi] = e.split("-");
    return [Number(lo), Number(hi ?? lo)] as const;
  });
  return (status) => ranges.some(([lo, hi]) => status >= lo && status <= hi);
}

/** Open a TCP connection (and, for HTTPS backends, complete the TLS handshake); healthy when it opens within the timeout. */
function tcpCheck(target: HealthTarget, timeoutMs: number, tls: UpstreamTls | null): Promise<CheckResult> {
  return new Promise((resolve) => {
    const { socket, ready } = connectBackend(target.host, target.port, tls);
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve(`no connection within ${timeoutMs} ms`);
    });
    socket.once(ready, () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(`connect failed: ${err.code ?? err.message}`));
  });
}

/**
 * One HTTP/1.1 request with Connection: close over a raw socket (the gateway does not
 * load node:http); healthy when the status is expected and the body holds bodyContains.
 */
function httpCheck(target: HealthTarget, config: HealthCheckConfig, okStatus: (s: number) => boolean, tls: UpstreamTls | null): Promise<CheckResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: CheckResult) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(result);
    };
    const { socket, ready } = connectBackend(target.host, target.port, tls);
    const chunks: Buffer[] = [];
    let received = 0;
    socket.setTimeout(config.timeout, () => done(`no answer within ${config.timeout} ms`));
    socket.once(ready, () => {
      let head = `${config.method} ${config.path} HTTP/1.1\r\nHost: ${config.host ?? target.address}\r\nUser-Agent: divisor-health-check\r\nConnection: close\r\n`;
      for (const [name, value] of Object.entries(config.headers ?? {})) head += `${name}: ${value}\r\n`;
      socket.write(`${head}\r\n`, "latin1");
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= MAX_CHECK_RESPONSE) finish();
    });
    socket.once("end", () => finish());
    socket.once("error", (err: NodeJS.ErrnoException) => done(`${err.code ?? err.message}`));
    function finish(): void {
      const text = Buffer.concat(chunks).subarray(0, MAX_CHECK_RESPONSE).toString("latin1");
      done(judge(text));
    }
    function judge(text: string): CheckResult {
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (status === null) return "not an HTTP response";
      const code = Number(status[1]);
      if (!okStatus(code)) return `status ${code}`;
      if (config.bodyContains !== undefined) {
        const bodyStart = text.indexOf("\r\n\r\n");
        if (bodyStart < 0 || !text.includes(config.bodyContains, bodyStart + 4)) return `body lacks ${JSON.stringify(config.bodyContains)}`;
      }
      return undefined;
    }
  });
}

/**
 * Checks one backend every `interval` (± jitter) and calls `onChange(healthy)` when
 * `fall` consecutive failures take it out or `rise` consecutive successes bring it
 * back. Starts healthy (optimistic). Its timer is unref'd and `stop()` clears it.
 */
export class HealthChecker {
  config: HealthCheckConfig;
  healthy = true;
  lastError: string | undefined = undefined;
  lastCheck = 0;
  checks = 0;
  private successes = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private okStatus: (status: number) => boolean;
  private readonly target: HealthTarget;
  private readonly onChange: (healthy: boolean) => void;
  private readonly log: Logger | null;
  /** The service's TLS to its backends (checks go over it too); set on every build. */
  tls: UpstreamTls | null = null;
  /** The service speaks HTTP/2 to its backends: HTTP checks do too; set on every build. */
  http2 = false;

  /** `log` (the "health" logger) gets each check's result at debug (failures) and trace (passes). */
  constructor(target: HealthTarget, config: HealthCheckConfig, onChange: (healthy: boolean) => void, log: Logger | null = null) {
    this.target = target;
    this.log = log;
    this.config = config;
    this.okStatus = statusMatcher(config.expectStatus);
    this.onChange = onChange;
  }

  /** Apply a new config (a reload that keeps the backend keeps the counters). */
  update(config: HealthCheckConfig): void {
    this.config = config;
    this.okStatus = statusMatcher(config.expectStatus);
  }

  /** First check now, then every interval. */
  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async http2Check(c: HealthCheckConfig): Promise<CheckResult> {
    const t = this.target;
    const res = await http2Check({ host: t.host, port: t.port, address: t.address, method: c.method, path: c.path, authority: c.host, headers: c.headers, timeoutMs: c.timeout }, this.tls);
    if (typeof res === "string") return res;
    if (!this.okStatus(res.status)) return `status ${res.status}`;
    if (c.bodyContains !== undefined && !res.body.includes(c.bodyContains)) return `body lacks ${JSON.stringify(c.bodyContains)}`;
    return undefined;
  }

  private schedule(delay: number): void {
    this.timer = setTimeout(() => void this.run(), delay);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    const c = this.config;
    const result =
      c.type === "tcp"
        ? await tcpCheck(this.target, c.timeout, this.tls)
        : this.http2
          ? await this.http2Check(c)
          : await httpCheck(this.target, c, this.okStatus, this.tls);
    if (this.stopped) return;
    this.checks++;
    this.lastCheck = Date.now();
    this.lastError = result;
    if (this.log !== null) {
      if (result === undefined) this.log.trace({ backend: this.target.address }, "health check passed");
      else this.log.debug({ backend: this.target.address, reason: result, failures: this.failures + 1 }, "health check failed");
    }
    if (result === undefined) {
      this.failures = 0;
      this.successes++;
      if (!this.healthy && this.successes >= c.rise) {
        this.healthy = true;
        this.onChange(true);
      }
    } else {
      this.successes = 0;
      this.failures++;
      if (this.healthy && this.failures >= c.fall) {
        this.healthy = false;
        this.onChange(false);
      }
    }
    const jitter = c.interval * c.jitter * (Math.random() * 2 - 1);
    this.schedule(Math.max(0, c.interval + jitter));
  }
}
