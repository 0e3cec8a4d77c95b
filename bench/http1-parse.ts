// Micro-benchmark of the HTTP/1.1 codec against Node's own parser (llhttp through its internal binding).
// Run: node --import tsx bench/http1-parse.ts
import { ChunkedDecoder, type ChunkSink } from "../src/http1/chunked.js";
import { parseRequestHead } from "../src/http1/parse-request.js";
import { parseResponseHead } from "../src/http1/parse-response.js";
import { DEFAULT_HEAD_LIMITS } from "../src/http1/types.js";

const crlf = (lines: string[]): Buffer => Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");

const browserGet = crlf([
  "GET /api/v1/orders?page=2&sort=desc HTTP/1.1",
  "Host: shop.example.com",
  "Connection: keep-alive",
  'sec-ch-ua: "Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
  "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
  "Sec-Fetch-Site: same-origin",
  "Sec-Fetch-Mode: cors",
  "Referer: https://shop.example.com/orders",
  "Accept-Encoding: gzip, deflate, br",
  "Accept-Language: en-US,en;q=0.9",
  "Cookie: session=5f2b1c9e8a7d6f4e3c2b1a0987654321; theme=dark",
]);
const curlGet = crlf(["GET /health HTTP/1.1", "Host: 127.0.0.1:8080", "User-Agent: curl/7.88.1", "Accept: */*"]);
const response = crlf([
  "HTTP/1.1 200 OK",
  "Content-Type: application/json; charset=utf-8",
  "Content-Length: 1234",
  "Date: Mon, 06 May 2024 10:00:00 GMT",
  "Connection: keep-alive",
  "Keep-Alive: timeout=5",
  'ETag: W/"4d2-abc"',
]);
const chunkedBody = Buffer.from(`${"400\r\n".concat("x".repeat(1024), "\r\n").repeat(64)}0\r\n\r\n`, "latin1");

let sink = 0;
const countingSink: ChunkSink = {
  onData(_buf, start, end) {
    sink += end - start;
  },
};

/**
 * Median ns per call of each function over 7 rounds, after a warm-up. Rounds alternate between the functions so
 * that both see the same machine load (the bench machine is shared).
 */
function measure(iterations: number, ...fns: (() => void)[]): number[] {
  for (const fn of fns) for (let i = 0; i < iterations; i++) fn();
  const rounds: number[][] = fns.map(() => []);
  for (let r = 0; r < 7; r++) {
    fns.forEach((fn, k) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < iterations; i++) fn();
      rounds[k]!.push(Number(process.hrtime.bigint() - t0) / iterations);
    });
  }
  return rounds.map((r) => r.sort((a, b) => a - b)[3]!);
}

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  execute(buf: Buffer): number | Error;
  [k: number]: unknown;
}
interface LlhttpBinding {
  HTTPParser: { new (): LlhttpParser; REQUEST: number; RESPONSE: number; kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number; kOnHeaders: number; kOnExecute: number };
}

/** Node's parser as node:http drives it (strict mode), or null when the internal binding is unavailable. */
function llhttp(type: "REQUEST" | "RESPONSE"): ((buf: Buffer) => void) | null {
  let binding: LlhttpBinding;
  try {
    process.noDeprecation = true;
    binding = (process as unknown as { binding(name: string): LlhttpBinding }).binding("http_parser");
  } catch {
    return null;
  } finally {
    process.noDeprecation = false;
  }
  const { HTTPParser } = binding;
  const parser = new HTTPParser();
  parser.initialize(HTTPParser[type], {}, 16 * 1024, 0);
  let headers = 0;
  parser[HTTPParser.kOnHeaders] = () => {};
  parser[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, h: string[]) => {
    headers += h.length;
    return type === "RESPONSE" ? 1 : 0; // 1 = skip body, so one response head can be parsed again and again
  };
  parser[HTTPParser.kOnBody] = () => {};
  parser[HTTPParser.kOnMessageComplete] = () => {};
  return (buf) => {
    const r = parser.execute(buf);
    if (typeof r !== "number") throw r;
    sink += headers;
  };
}

const N = 200_000;
const rows: [string, number, number | null][] = [];
const limits = DEFAULT_HEAD_LIMITS;
/** Our figure, and llhttp's measured alongside when its binding loads. */
function compare(name: string, ours: () => void, node: ((buf: Buffer) => void) | null, buf: Buffer): void {
  if (node === null) {
    rows.push([name, measure(N, ours)[0]!, null]);
    return;
  }
  const [a, b] = measure(N, ours, () => node(buf));
  rows.push([name, a!, b!]);
}
for (const [name, buf] of [
  ["browser GET, 11 fields", browserGet],
  ["curl GET, 3 fields", curlGet],
] as const) {
  const ours = () => {
    sink += parseRequestHead(buf, 0, buf.length, limits)!.length;
  };
  compare(`request head: ${name} (${buf.length} B)`, ours, llhttp("REQUEST"), buf);
}
const oursResponse = () => {
  sink += parseResponseHead(response, 0, response.length, "GET", 16 * 1024)!.length;
};
compare(`response head, 6 fields (${response.length} B)`, oursResponse, llhttp("RESPONSE"), response);
const decoder = new ChunkedDecoder();
const oursChunked = () => {
  decoder.reset();
  sink += decoder.push(chunkedBody, 0, chunkedBody.length, countingSink);
};
rows.push([`chunked body, 64 x 1 KiB chunks (${chunkedBody.length} B)`, measure(N / 20, oursChunked)[0]!, null]);

console.log(`node ${process.version}, ${N} iterations x 7 rounds, median ns per call`);
console.log("case".padEnd(52), "divisor".padStart(9), "llhttp".padStart(9), "ratio".padStart(7));
for (const [name, ours, node] of rows) {
  const ratio = node === null ? "" : (ours / node).toFixed(2);
  console.log(name.padEnd(52), ours.toFixed(0).padStart(9), (node === null ? "-" : node.toFixed(0)).padStart(9), ratio.padStart(7));
}
if (sink === 0) console.log(""); // keeps the work observable
