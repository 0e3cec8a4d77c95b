import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** A span as the OTLP receiver decoded it (ids in lowercase hex, "" for none). */
export interface DecodedSpan {
  encoding: "protobuf" | "json";
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: "SERVER" | "CLIENT" | string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, unknown>;
  statusCode: "UNSET" | "OK" | "ERROR";
  resource: Record<string, unknown>;
  scope: string;
}

export interface ExportRequest {
  encoding: "protobuf" | "json";
  headers: Record<string, string>;
  spans: number;
}

/** The OTLP receiver process (test/helpers/otlp/receiver.ts) and what it reported so far. */
export interface OtlpReceiver {
  /** The traces endpoint, http://127.0.0.1:PORT/v1/traces. */
  url: string;
  spans: DecodedSpan[];
  requests: ExportRequest[];
  errors: string[];
  /** Wait until `predicate(spans)` holds (polls what arrived), or fail after `timeoutMs`. */
  waitFor(predicate: (spans: DecodedSpan[]) => boolean, timeoutMs?: number): Promise<DecodedSpan[]>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<OtlpReceiver> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./otlp/receiver.ts", import.meta.url))], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const spans: DecodedSpan[] = [];
  const requests: ExportRequest[] = [];
  const errors: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const msg = JSON.parse(line) as { listening?: number; span?: DecodedSpan; request?: ExportRequest; error?: string };
      if (msg.listening !== undefined) resolve(msg.listening);
      if (msg.span !== undefined) spans.push(msg.span);
      if (msg.request !== undefined) requests.push(msg.request);
      if (msg.error !== undefined) errors.push(msg.error);
    });
    child.once("exit", (code) => reject(new Error(`OTLP receiver exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    requests,
    errors,
    async waitFor(predicate, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (!predicate(spans)) {
        if (Date.now() > until) throw new Error(`the receiver did not get the expected spans within ${timeoutMs} ms; got ${JSON.stringify(spans, null, 1)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return spans;
    },
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
