// A real OTLP/HTTP traces receiver, run as its own process by the tracing tests:
// listens on 127.0.0.1:0, decodes each export request (protobuf with the
// opentelemetry-proto definitions in trace.proto via protobufjs, or OTLP JSON)
// and reports what it decoded on stdout, one JSON object a line:
//   {"listening": port}
//   {"request": {"encoding": "protobuf" | "json", "headers": {...}, "spans": n}}
//   {"span": {...}}   (see DecodedSpan in ../otlp.ts)
import { readFileSync } from "node:fs";
import http from "node:http";
import type net from "node:net";
import protobuf from "protobufjs";

const root = protobuf.parse(readFileSync(new URL("./trace.proto", import.meta.url), "utf8"), { keepCase: false }).root;
const ExportRequest = root.lookupType("opentelemetry.proto.ExportTraceServiceRequest");
const ExportResponse = root.lookupType("opentelemetry.proto.ExportTraceServiceResponse");

type Attrs = Record<string, unknown>;

function anyValue(v: Record<string, unknown> | undefined): unknown {
  if (v === undefined || v === null) return undefined;
  if ("stringValue" in v) return v.stringValue;
  if ("boolValue" in v) return v.boolValue;
  if ("intValue" in v) return Number(v.intValue);
  if ("doubleValue" in v) return Number(v.doubleValue);
  if ("arrayValue" in v) return ((v.arrayValue as { values?: Record<string, unknown>[] }).values ?? []).map(anyValue);
  return undefined;
}

function attrs(list: { key: string; value?: Record<string, unknown> }[] | undefined): Attrs {
  const out: Attrs = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

/** Protobuf bytes arrive as base64 from toObject({bytes: String}); JSON has hex already. */
function hexId(v: unknown, encoding: string): string {
  if (typeof v !== "string" || v === "") return "";
  return encoding === "json" ? v.toLowerCase() : Buffer.from(v, "base64").toString("hex");
}

const KIND_NAMES = ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"];

function report(body: Record<string, unknown>, encoding: "protobuf" | "json"): number {
  let count = 0;
  for (const rs of (body.resourceSpans as Record<string, unknown>[] | undefined) ?? []) {
    const resource = attrs((rs.resource as { attributes?: [] } | undefined)?.attributes);
    for (const ss of (rs.scopeSpans as Record<string, unknown>[] | undefined) ?? []) {
      const scope = (ss.scope as { name?: string } | undefined)?.name ?? "";
      for (const s of (ss.spans as Record<string, unknown>[] | undefined) ?? []) {
        count++;
        const kind = typeof s.kind === "string" ? KIND_NAMES.indexOf((s.kind as string).replace("SPAN_KIND_", "")) : Number(s.kind ?? 0);
        const status = (s.status as { code?: number | string } | undefined)?.code ?? 0;
        const span = {
          encoding,
          traceId: hexId(s.traceId, encoding),
          spanId: hexId(s.spanId, encoding),
          parentSpanId: hexId(s.parentSpanId, encoding),
          traceState: (s.traceState as string | undefined) ?? "",
          name: s.name,
          kind: KIND_NAMES[kind] ?? String(kind),
          startTimeUnixNano: String(s.startTimeUnixNano ?? "0"),
          endTimeUnixNano: String(s.endTimeUnixNano ?? "0"),
          attributes: attrs(s.attributes as []),
          statusCode: typeof status === "string" ? status.replace("STATUS_CODE_", "") : ["UNSET", "OK", "ERROR"][status],
          resource,
          scope,
        };
        process.stdout.write(`${JSON.stringify({ span })}\n`);
      }
    }
  }
  return count;
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const raw = Buffer.concat(chunks);
    const type = req.headers["content-type"] ?? "";
    try {
      if (req.method !== "POST" || req.url !== "/v1/traces") throw new Error(`unexpected ${req.method} ${req.url}`);
      if (type.startsWith("application/x-protobuf")) {
        const msg = ExportRequest.decode(raw);
        const body = ExportRequest.toObject(msg, { longs: String, enums: Number, bytes: String, defaults: false });
        const spans = report(body, "protobuf");
        process.stdout.write(`${JSON.stringify({ request: { encoding: "protobuf", headers: req.headers, spans } })}\n`);
        res.writeHead(200, { "content-type": "application/x-protobuf" });
        res.end(ExportResponse.encode(ExportResponse.create({})).finish());
      } else if (type.startsWith("application/json")) {
        const spans = report(JSON.parse(raw.toString("utf8")), "json");
        process.stdout.write(`${JSON.stringify({ request: { encoding: "json", headers: req.headers, spans } })}\n`);
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      } else throw new Error(`unexpected content-type ${type}`);
    } catch (err) {
      process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`);
      res.writeHead(400, { "content-type": "text/plain" });
      res.end(String(err));
    }
  });
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ listening: (server.address() as net.AddressInfo).port })}\n`);
});
process.on("SIGTERM", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
