/**
 * Config files of every server in the bench, each written into the run's temp
 * dir: nothing under /etc, /var or /run is read or written.
 */
import { EXAMPLE_PLUGIN_PACKAGE } from "./plugin-package.js";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The body every request gets from the backend: 12 bytes. */
export const BACKEND_BODY = "hello world\n";

/** Path of the compress workload's JSON document on the backend (a file in the run's dir). */
export const COMPRESS_PATH = "/compress.json";

/** The compress workload's document: ~10 KB of API-like JSON (repeated keys, varying values). */
export function compressDocument(): string {
  const items: string[] = [];
  for (let i = 0; items.join(",").length < 10_000; i++) {
    items.push(JSON.stringify({ id: i, name: `item number ${i}`, tags: ["alpha", i % 7 === 0 ? "gamma" : "delta"], price: (i * 37) % 1000, ok: i % 3 === 0 }));
  }
  return `[${items.join(",")}]`;
}

/** wrk script of the compress workload: GET the JSON document, accepting gzip (static fields: no Lua per request). */
export function compressLua(): string {
  return `wrk.path = "${COMPRESS_PATH}"
wrk.headers["Accept-Encoding"] = "gzip"
`;
}

/** 1 KiB request body of the post-1k scenario. */
export const POST_BODY_BYTES = 1024;

/** Lines every nginx instance shares: its own pid file, error log and temp paths in `dir`. */
function nginxCommon(dir: string, name: string): string {
  return `worker_processes 1;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}.error.log warn;
events { worker_connections 4096; }
`;
}

function nginxTempPaths(dir: string, name: string): string {
  return `  client_body_temp_path ${dir}/${name}-tmp/body;
  proxy_temp_path ${dir}/${name}-tmp/proxy;
  fastcgi_temp_path ${dir}/${name}-tmp/fastcgi;
  uwsgi_temp_path ${dir}/${name}-tmp/uwsgi;
  scgi_temp_path ${dir}/${name}-tmp/scgi;
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
`;
}

/** The shared backend: one nginx worker answering every request with 200 and a 12-byte body. */
export function backendNginxConf(dir: string, port: number): string {
  return `${nginxCommon(dir, "backend")}
http {
${nginxTempPaths(dir, "backend")}  default_type text/plain;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { return 200 "hello world\\n"; }
    location = ${COMPRESS_PATH} { default_type application/json; alias ${dir}/compress.json; }
  }
}
`;
}

/**
 * nginx as a reverse proxy, keeping up to 64 idle upstream connections; `gzip`
 * adds gzip at level 5 for JSON (the peer of divisor-compress, same level).
 */
export function proxyNginxConf(dir: string, port: number, backendPort: number, gzip = false, https = false, h2 = false): string {
  const name = gzip ? "nginx-gzip" : h2 ? "nginx-h2" : https ? "nginx-https" : "nginx";
  const tlsLines = https ? `    ssl_certificate ${dir}/${BENCH_CERT};\n    ssl_certificate_key ${dir}/${BENCH_KEY};\n    ssl_protocols TLSv1.2 TLSv1.3;\n` : "";
  const gzipLines = gzip ? "  gzip on;\n  gzip_comp_level 5;\n  gzip_min_length 1024;\n  gzip_types application/json;\n  gzip_vary on;\n" : "";
  return `${nginxCommon(dir, name)}
http {
${nginxTempPaths(dir, name)}${gzipLines}  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive ${h2 ? 512 : 64};
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port}${https ? " ssl" : ""}${h2 ? " http2" : ""} backlog=4096;
${tlsLines}    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** HAProxy with one thread, keep-alive on both sides and connection reuse; `h2` offers HTTP/2 by ALPN. */
export function haproxyConf(dir: string, port: number, backendPort: number, https = false, h2 = false): string {
  return `global
  nbthread 1
  maxconn 4096
  pidfile ${dir}/haproxy${h2 ? "-h2" : https ? "-https" : ""}.pid

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s

frontend bench
  bind 127.0.0.1:${port}${https ? ` ssl crt ${dir}/${BENCH_CERT_AND_KEY}${h2 ? " alpn h2,http/1.1" : ""}` : ""}
  default_backend backend

backend backend
  server b1 127.0.0.1:${backendPort}
`;
}

/**
 * How Divisor runs in the bench: "default" with every default (request metrics
 * counted, no admin listener); "admin" adds the admin listener, which serves
 * /metrics and collects process metrics; "bare" turns the resilience machinery
 * off (no retries, no circuit breaker); "no-metrics" turns request metrics off;
 * "tracing" records every request (ratio 1) and exports its spans over OTLP/HTTP
 * protobuf to the shared backend (which answers the export POSTs with 200).
 * "access-log" writes the access log (default fields, every line kept) to a file
 * in `dir`. "chain" is "default" with a typical middleware chain on its router:
 * an in-memory rate limit per client IP (a limit no bench run reaches, so nothing
 * is refused) and the security-headers preset, request metrics on as by default.
 * "cache" puts a memory cache on the router with a heuristic freshness of an hour
 * (the backend sends no Cache-Control), so after the first request every GET is a
 * hit answered by the gateway itself: the cache-hit throughput.
 * "compress" is "default" with a compress middleware offering gzip only (level 5),
 * measured on the compress workload (a ~10 KB JSON document, Accept-Encoding: gzip).
 * "https" is "default" served over TLS with the bench's self-signed certificate,
 * beside nginx-https and haproxy-https with the same certificate. "h2" is "https"
 * with HTTP/2 offered by ALPN (listeners[].http2), loaded by h2load beside
 * nginx-h2 and haproxy-h2; the backend stays HTTP/1.1 for all three. h2load's
 * 50 connections x 10 streams put up to 500 requests in flight to the backend,
 * so divisor-h2 and nginx-h2 keep up to 512 idle backend connections (HAProxy
 * keeps every idle one by default) instead of closing and reopening them.
 * "lua" is "default" with the typical header-rewriting Lua script (scripts/lua/header-rewrite.lua)
 * on its router: what a `type: lua` middleware costs per request; "plugin" the same rewrite as a
 * TypeScript plugin package.
 * The ratios to "default" are what each costs.
 */
export type DivisorVariant = "default" | "admin" | "bare" | "no-metrics" | "tracing" | "access-log" | "chain" | "cache" | "compress" | "https" | "h2" | "lua" | "plugin";

/** The script of the "lua" variant (the same rewrite as the TypeScript-plugin row, for comparison). */
const LUA_SCRIPT = fileURLToPath(new URL("../../scripts/lua/header-rewrite.lua", import.meta.url));

/** The "chain" variant's middlewares: 10^9 requests a second per client is far above what one core proxies. */
const TYPICAL_CHAIN = `middlewares:
  limit: { type: rate-limit, rate: 1000000000, period: 1s, key: [client-ip] }
  secure: { type: security-headers }
`;

/** Divisor: one listener, one service with the one backend, one router sending everything there. */
export function divisorYaml(port: number, backendPort: number, variant: DivisorVariant = "default", dir = "."): string {
  const resilience =
    variant === "bare"
      ? "\n    retries: { attempts: 0 }\n    circuitBreaker: { enabled: false }"
      : variant === "h2"
        ? "\n    pool: { maxIdle: 512 }" // 50 connections x 10 streams: up to 500 exchanges in flight to the backend
        : "";
  const observability: Record<DivisorVariant, string> = {
    default: "",
    bare: "",
    "no-metrics": "metrics: { enabled: false }\n",
    admin: 'admin: { address: "127.0.0.1:0" }\n',
    tracing: `tracing: { endpoint: "http://127.0.0.1:${backendPort}/v1/traces", sampler: { ratio: 1 } }\n`,
    "access-log": `logging: { access: { destination: "${dir}/divisor-access.log" } }\n`,
    chain: TYPICAL_CHAIN,
    cache: "middlewares:\n  cache: { type: cache, defaultTtl: 1h }\n",
    compress: "middlewares:\n  squeeze: { type: compress, encodings: [gzip], gzip: { level: 5 } }\n",
    https: "",
    h2: "",
    lua: `middlewares:\n  rewrite: { type: lua, file: "${LUA_SCRIPT}" }\n`,
    // The example plugin package (installed in the run's dir by the target), loaded by name like a user's npm package.
    plugin: `plugins:\n  - { name: header-rewrite, from: ${EXAMPLE_PLUGIN_PACKAGE} }\nmiddlewares:\n  rewrite: { type: plugin, plugin: header-rewrite }\n`,
  };
  const tls =
    variant === "https" || variant === "h2" ? `\n    tls: { certificates: [{ cert: "${dir}/${BENCH_CERT}", key: "${dir}/${BENCH_KEY}" }] }${variant === "h2" ? "\n    http2: {}" : ""}` : "";
  const routerMiddlewares: Partial<Record<DivisorVariant, string>> = { chain: "[limit, secure]", compress: "[squeeze]", cache: "[cache]", lua: "[rewrite]", plugin: "[rewrite]" };
  const chain = routerMiddlewares[variant] === undefined ? "" : `\n    middlewares: ${routerMiddlewares[variant]}`;
  return `listeners:
  - address: "127.0.0.1:${port}"${tls}
${observability[variant]}services:
  backend:
    backends: ["127.0.0.1:${backendPort}"]${resilience}
routers:
  all:
    service: backend${chain}
`;
}

/** The HTTPS rows' certificate, key, and both in one file (HAProxy's crt), in the run's dir. */
export const BENCH_CERT = "bench-cert.pem";
export const BENCH_KEY = "bench-key.pem";
export const BENCH_CERT_AND_KEY = "bench-cert-and-key.pem";

/** A self-signed ECDSA P-256 certificate for 127.0.0.1, made with openssl in `dir` (every HTTPS row serves the same one). */
export function writeBenchCertificate(dir: string): void {
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", BENCH_KEY, "-out", BENCH_CERT],
    { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
  );
  // nginx's workers run as nobody and read the key at start in the master (root); HAProxy wants certificate and key in one file.
  writeFileSync(join(dir, BENCH_CERT_AND_KEY), readFileSync(join(dir, BENCH_CERT), "utf8") + readFileSync(join(dir, BENCH_KEY), "utf8"));
}

/** wrk script of the post-1k scenario: static fields only, so wrk runs no Lua per request. */
export function postLua(): string {
  return `wrk.method = "POST"
wrk.body = string.rep("x", ${POST_BODY_BYTES})
wrk.headers["Content-Type"] = "application/octet-stream"
`;
}
