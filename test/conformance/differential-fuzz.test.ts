// Differential fuzzing of the request head parser against Node's own (llhttp): mutated valid heads go through both;
// whatever Node rejects we must reject too, and where both accept they must read the same request.
// Reproduce or explore: FUZZ_SEED=<n> FUZZ_CASES=<n> node --import tsx --test test/conformance/differential-fuzz.test.ts
import assert from "node:assert/strict";
import { test } from "node:test";
import { HttpParseError } from "../../src/errors.js";
import { ChunkedDecoder } from "../../src/http1/chunked.js";
import { parseRequestHead } from "../../src/http1/parse-request.js";
import { BodyKind, DEFAULT_HEAD_LIMITS, type RequestHead } from "../../src/http1/types.js";
import { seededRandom } from "../service/balancers/helpers.js";
import { head } from "./corpus.js";
import { type NodeFraming, NodeReference, type NodeVerdict } from "./llhttp.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const CASES = Number(process.env.FUZZ_CASES ?? 20_000);

const seeds = [
  head(
    "GET /search?q=a+b&lang=en HTTP/1.1",
    "Host: shop.example.test",
    "Connection: keep-alive",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64)",
    "Accept: text/html,*/*;q=0.8",
    "Accept-Encoding: gzip, br",
    "Cookie: a=1; b=2",
  ),
  head("POST /form HTTP/1.1", "Host: a.test", "Content-Type: text/plain", "Content-Length: 5"),
  head("POST /upload HTTP/1.1", "Host: a.test", "Transfer-Encoding: chunked", "Trailer: X-Sum"),
  head("GET /old HTTP/1.0", "Connection: Keep-Alive", "Accept: */*"),
  head("GET http://a.test:8080/p?x=1 HTTP/1.1", "Host: a.test:8080"),
  head("OPTIONS * HTTP/1.1", "Host: a.test"),
  head("GET /ws HTTP/1.1", "Host: a.test", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13"),
  head("PUT /big HTTP/1.1", "Host: a.test", "Expect: 100-continue", "Content-Length: 1024"),
  head("DELETE /items/7?force=1 HTTP/1.1", "Host: [::1]:80", "X-Empty:", "X-Spaces:   a b   "),
];

/** Bytes that sit on the edges of the grammar. */
const alphabet = [
  0x0d, 0x0a, 0x20, 0x09, 0x00, 0x0b, 0x0c, 0x01, 0x7f, 0x80, 0xe9, 0xff,
  ...Buffer.from(':,;"\\/?#=-05 9aZx*@%1F8', "latin1"),
];

/** Whole field lines that stress framing and connection handling. */
const framingLines = [
  "Content-Length: 5", "Content-Length: 0", "Content-Length:  7 ", "Content-Length: 5,5", "Content-Length: -1",
  "Content-Length: 1e3", "Content-Length: 99999999999999999999", "content-length: 3",
  "Transfer-Encoding: chunked", "Transfer-Encoding: Chunked ", "Transfer-Encoding: gzip, chunked",
  "Transfer-Encoding: chunked, gzip", "Transfer-Encoding: identity", "Transfer-Encoding:\tchunked",
  "Transfer-Encoding : chunked", " Transfer-Encoding: chunked", "Transfer-Encoding: chunked\x0b",
  "Transfer-Encoding: ,chunked", "TRANSFER-ENCODING: chunked", "Connection: close", "Connection: upgrade",
  "Connection: keep-alive, Upgrade", "Connection: clos", "Upgrade: h2c", "Host: other.test", "Expect: 100-continue",
  "Content-Length: 5\t", "Content-Length:\t5", "Transfer-Encoding: chunked\t", "Transfer-Encoding:\tgzip,\tchunked",
  "Connection: close\t", "Connection: upgrade\t", "Connection: keep-alive\t", "Connection:\tclose ,\tupgrade",
];

const versions = ["HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "http/1.1", "HTTP/1.1 ", "HTTP/11", "HTTP/1.01"];
const methods = ["GET", "get", "POST", "HEAD", "CONNECT", "M-SEARCH", "FOO", "GET ", "G:T", "PRI", "OPTIONS"];

type Rng = () => number;
const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;

/** A position, half of the time next to a CR, LF, SP or colon where parsers tend to disagree. */
function position(rng: Rng, raw: Buffer): number {
  if (rng() < 0.5) {
    const edges: number[] = [];
    raw.forEach((b, i) => {
      if (b === 0x0d || b === 0x0a || b === 0x20 || b === 0x3a) edges.push(i);
    });
    if (edges.length > 0) return Math.min(raw.length, pick(rng, edges) + Math.floor(rng() * 3) - 1);
  }
  return Math.floor(rng() * (raw.length + 1));
}

function splitLines(raw: Buffer): string[] {
  return raw.toString("latin1").split("\r\n");
}

const mutations: ((rng: Rng, raw: Buffer) => Buffer)[] = [
  function insertByte(rng, raw) {
    const at = position(rng, raw);
    return Buffer.concat([raw.subarray(0, at), Buffer.of(pick(rng, alphabet)), raw.subarray(at)]);
  },
  function deleteByte(rng, raw) {
    const at = Math.min(position(rng, raw), raw.length - 1);
    return Buffer.concat([raw.subarray(0, at), raw.subarray(at + 1)]);
  },
  function replaceByte(rng, raw) {
    const copy = Buffer.from(raw);
    copy[Math.min(position(rng, raw), raw.length - 1)] = pick(rng, alphabet);
    return copy;
  },
  function duplicateLine(rng, raw) {
    const lines = splitLines(raw);
    const i = 1 + Math.floor(rng() * Math.max(1, lines.length - 3));
    lines.splice(i, 0, lines[i] ?? "");
    return Buffer.from(lines.join("\r\n"), "latin1");
  },
  function dropLine(rng, raw) {
    const lines = splitLines(raw);
    lines.splice(1 + Math.floor(rng() * Math.max(1, lines.length - 3)), 1);
    return Buffer.from(lines.join("\r\n"), "latin1");
  },
  function flipCase(rng, raw) {
    const copy = Buffer.from(raw);
    const from = Math.floor(rng() * copy.length);
    const len = 1 + Math.floor(rng() * 12);
    for (let i = from; i < Math.min(copy.length, from + len); i++) {
      const b = copy[i]!;
      if ((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)) copy[i] = b ^ 0x20;
    }
    return copy;
  },
  function addFramingLine(rng, raw) {
    const lines = splitLines(raw);
    lines.splice(1 + Math.floor(rng() * Math.max(1, lines.length - 2)), 0, pick(rng, framingLines));
    return Buffer.from(lines.join("\r\n"), "latin1");
  },
  function swapVersion(rng, raw) {
    return Buffer.from(raw.toString("latin1").replace(/HTTP\/1\.[01]/, pick(rng, versions)), "latin1");
  },
  function swapMethod(rng, raw) {
    return Buffer.from(raw.toString("latin1").replace(/^[A-Z]+ /, `${pick(rng, methods)} `), "latin1");
  },
];

const bodySeeds = [
  "5\r\nhello\r\n0\r\n\r\n",
  "1a;ext=val\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Sum: 1\r\n\r\n",
  '3;a="q\\"t";b\r\nabc\r\n000\r\n\r\n',
  "A\r\n0123456789\r\n2;x=y\r\nab\r\n0\r\nX-A: 1\r\nX-B:  2 \r\n\r\n",
];
const byteMutations = mutations.filter((m) => ["insertByte", "deleteByte", "replaceByte", "flipCase"].includes(m.name));

function mutate(rng: Rng, from = seeds, using = mutations): { raw: Buffer; ops: string[] } {
  let raw: Buffer = Buffer.from(pick(rng, from), "latin1");
  const ops: string[] = [];
  const count = 1 + Math.floor(rng() * 3);
  for (let i = 0; i < count; i++) {
    const m = pick(rng, using);
    ops.push(m.name);
    raw = m(rng, raw);
  }
  return { raw, ops };
}

type Ours = { kind: "ok"; head: RequestHead; length: number } | { kind: "error"; reason: string } | { kind: "incomplete" };

function ours(raw: Buffer): Ours {
  try {
    const parsed = parseRequestHead(raw, 0, raw.length, DEFAULT_HEAD_LIMITS);
    return parsed === null ? { kind: "incomplete" } : { kind: "ok", ...parsed };
  } catch (err) {
    if (!(err instanceof HttpParseError)) throw err;
    return { kind: "error", reason: err.message.replace(/^unknown method .*/, "unknown method") };
  }
}

/** Where both accept: the differences in what they read (empty when they agree). */
function differences(mine: RequestHead, node: NodeVerdict & { kind: "ok" }, framing: NodeFraming): string[] {
  const out: string[] = [];
  const same = (what: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${what}: ours ${JSON.stringify(a)}, node ${JSON.stringify(b)}`);
  };
  same("method", mine.method, node.method);
  same("target", mine.target, node.target);
  same("version", `1.${mine.versionMinor}`, `${node.versionMajor}.${node.versionMinor}`);
  same("headers", mine.headers, node.headers);
  // Documented normalization: `close` wins over HTTP/1.0 `keep-alive` (RFC 9112 §9.3); Node checks keep-alive first.
  const closeWins = !mine.keepAlive && node.keepAlive && mine.versionMinor === 0 && mine.connectionTokens?.includes("close");
  if (!closeWins) same("keepAlive", mine.keepAlive, node.keepAlive);
  same("upgrade", mine.upgrade, node.upgrade);
  if (!node.upgrade) {
    const expected: NodeFraming =
      mine.bodyKind === BodyKind.Chunked
        ? "chunked"
        : mine.bodyKind === BodyKind.Length && mine.contentLength > 0
          ? { length: mine.contentLength <= 1 << 20 ? mine.contentLength : -1 }
          : "none";
    same("framing", expected, framing);
  }
  return out;
}

test(`parseRequestHead never accepts what Node's parser rejects, and reads what it reads (${CASES} cases)`, () => {
  const rng = seededRandom(SEED);
  const node = new NodeReference(DEFAULT_HEAD_LIMITS.maxHeadSize);
  const failures: string[] = [];
  const stricter = new Map<string, number>();
  const tally = { bothAccept: 0, bothReject: 0, bothIncomplete: 0, weAreStricter: 0, weRejectEarlier: 0 };
  const fail = (why: string, raw: Buffer, ops: string[]) => {
    failures.push(`${why}\n    input ${JSON.stringify(raw.toString("latin1"))} (mutations: ${ops.join(", ")})`);
  };

  for (let n = 0; n < CASES; n++) {
    const { raw, ops } = mutate(rng);
    const mine = ours(raw);
    if (mine.kind === "ok") {
      const { verdict, endsThere, framing } = node.parseExactly(raw, mine.length, mine.head.contentLength);
      if (verdict.kind === "error") fail(`Node rejects (${verdict.code}) what we accept`, raw, ops);
      else if (verdict.kind !== "ok" || !endsThere) fail(`Node ends the head elsewhere than our ${mine.length}`, raw, ops);
      else {
        const diff = differences(mine.head, verdict, framing);
        if (diff.length > 0) fail(`both accept but read differently: ${diff.join("; ")}`, raw, ops);
        else tally.bothAccept++;
      }
      continue;
    }
    const verdict = node.parse(raw);
    if (mine.kind === "error") {
      if (verdict.kind === "ok") {
        tally.weAreStricter++;
        stricter.set(mine.reason, (stricter.get(mine.reason) ?? 0) + 1);
      } else if (verdict.kind === "error") tally.bothReject++;
      else tally.weRejectEarlier++; // a prefix Node still waits on
    } else if (verdict.kind === "ok") fail("Node accepts a head we are still waiting for", raw, ops);
    else if (verdict.kind === "error") fail(`Node rejects (${verdict.code}) a head we are still waiting for`, raw, ops);
    else tally.bothIncomplete++;
  }

  console.log(`differential fuzz: seed ${SEED}, ${CASES} cases`, tally);
  console.log("  rejected by us, accepted by Node (we are stricter), by reason:");
  for (const [reason, count] of [...stricter].sort((a, b) => b[1] - a[1])) console.log(`    ${String(count).padStart(5)}  ${reason}`);
  assert.ok(tally.bothAccept > CASES / 20 && tally.bothReject > CASES / 20, "the mutations should hit both sides");
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} disagreements (seed ${SEED})`);
});

type OursBody = { kind: "ok"; consumed: number; data: Buffer; trailers: string[] } | { kind: "error"; reason: string } | { kind: "incomplete" };

function oursBody(body: Buffer): OursBody {
  const decoder = new ChunkedDecoder();
  const data: Buffer[] = [];
  try {
    const consumed = decoder.push(body, 0, body.length, { onData: (b, s, e) => data.push(b.subarray(s, e)) });
    if (!decoder.done) return { kind: "incomplete" };
    return { kind: "ok", consumed, data: Buffer.concat(data), trailers: decoder.trailers };
  } catch (err) {
    if (!(err instanceof HttpParseError)) throw err;
    return { kind: "error", reason: err.message.replace(/^\S+ is not allowed/, "<field> is not allowed") };
  }
}

test(`ChunkedDecoder never accepts a body Node's parser rejects, and decodes what it decodes (${CASES / 2} cases)`, () => {
  const rng = seededRandom(SEED + 1);
  const node = new NodeReference(DEFAULT_HEAD_LIMITS.maxHeadSize);
  const headBytes = Buffer.from(head("POST /upload HTTP/1.1", "Host: a.test", "Transfer-Encoding: chunked"), "latin1");
  const failures: string[] = [];
  const stricter = new Map<string, number>();
  const tally = { bothAccept: 0, bothReject: 0, bothIncomplete: 0, weAreStricter: 0, weRejectEarlier: 0 };
  const fail = (why: string, raw: Buffer, ops: string[]) => {
    failures.push(`${why}\n    body ${JSON.stringify(raw.toString("latin1"))} (mutations: ${ops.join(", ")})`);
  };

  for (let n = 0; n < CASES / 2; n++) {
    const { raw, ops } = mutate(rng, bodySeeds, byteMutations);
    const mine = oursBody(raw);
    if (mine.kind === "ok") {
      const before = node.body(headBytes, raw, mine.consumed - 1);
      const at = node.body(headBytes, raw, mine.consumed);
      if (at.error !== null || before.error !== null) fail(`Node rejects (${at.error ?? before.error}) what we accept`, raw, ops);
      else if (before.complete || !at.complete) fail(`Node ends the body elsewhere than our ${mine.consumed}`, raw, ops);
      else if (!at.data.equals(mine.data)) fail(`data: ours ${JSON.stringify(mine.data.toString("latin1"))}, node ${JSON.stringify(at.data.toString("latin1"))}`, raw, ops);
      else if (JSON.stringify(at.trailers) !== JSON.stringify(mine.trailers)) fail(`trailers: ours ${JSON.stringify(mine.trailers)}, node ${JSON.stringify(at.trailers)}`, raw, ops);
      else tally.bothAccept++;
      continue;
    }
    const theirs = node.body(headBytes, raw);
    if (mine.kind === "error") {
      if (theirs.complete) {
        tally.weAreStricter++;
        stricter.set(mine.reason, (stricter.get(mine.reason) ?? 0) + 1);
      } else if (theirs.error !== null) tally.bothReject++;
      else tally.weRejectEarlier++;
    } else if (theirs.error !== null) fail(`Node rejects (${theirs.error}) a body we are still reading`, raw, ops);
    else if (theirs.complete) fail("Node completes a body we are still reading", raw, ops);
    else tally.bothIncomplete++;
  }

  console.log(`chunked differential fuzz: seed ${SEED + 1}, ${CASES / 2} cases`, tally);
  console.log("  rejected by us, accepted by Node (we are stricter), by reason:");
  for (const [reason, count] of [...stricter].sort((a, b) => b[1] - a[1])) console.log(`    ${String(count).padStart(5)}  ${reason}`);
  assert.ok(tally.bothAccept > CASES / 40 && tally.bothReject > CASES / 40, "the mutations should hit both sides");
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} disagreements (seed ${SEED + 1})`);
});
