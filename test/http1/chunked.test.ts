import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HttpParseError } from "../../src/errors.js";
import { ChunkedDecoder, type ChunkSink } from "../../src/http1/chunked.js";

const bytes = (s: string): Buffer => Buffer.from(s, "latin1");

/** Collects body data and how it arrived. */
class Collector implements ChunkSink {
  parts: string[] = [];
  onData(buf: Buffer, start: number, end: number): void {
    assert.ok(end > start, "no empty data calls");
    this.parts.push(buf.toString("latin1", start, end));
  }
  get data(): string {
    return this.parts.join("");
  }
}

/** Push `raw` in pieces cut at `cuts`; returns total bytes consumed, the data, the decoder. */
function decode(raw: string, cuts: number[] = [], options?: ConstructorParameters<typeof ChunkedDecoder>[0]) {
  const buf = bytes(raw);
  const decoder = new ChunkedDecoder(options);
  const sink = new Collector();
  let consumed = 0;
  let from = 0;
  for (const to of [...cuts, buf.length]) {
    const used = decoder.push(buf, from, to, sink);
    assert.ok(used <= to - from);
    if (used < to - from) assert.ok(decoder.done, "only a finished decoder leaves bytes");
    consumed += used;
    from = to;
  }
  return { consumed, data: sink.data, decoder };
}

function rejects(raw: string, options?: ConstructorParameters<typeof ChunkedDecoder>[0]): HttpParseError {
  let caught: unknown;
  try {
    decode(raw, [], options);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof HttpParseError, `expected a rejection of ${JSON.stringify(raw.slice(0, 60))}`);
  return caught;
}

const body = '5\r\nhello\r\n1A;name=value;flag;q="a \\" b"\r\nabcdefghijklmnopqrstuvwxyz\r\n000\r\nX-Sum: abc \r\nX-Empty:\r\n\r\n';
const payload = "helloabcdefghijklmnopqrstuvwxyz";

describe("ChunkedDecoder", () => {
  it("decodes chunks with extensions and collects trailers", () => {
    const { consumed, data, decoder } = decode(body);
    assert.equal(consumed, body.length);
    assert.equal(data, payload);
    assert.equal(decoder.done, true);
    assert.deepEqual(decoder.trailers, ["X-Sum", "abc", "X-Empty", ""]);
  });

  it("gives the same data, trailers and consumption wherever the input is split", () => {
    for (let cut = 0; cut <= body.length; cut++) {
      const { consumed, data, decoder } = decode(body, [cut]);
      assert.equal(consumed, body.length, `cut at ${cut}`);
      assert.equal(data, payload, `cut at ${cut}`);
      assert.deepEqual(decoder.trailers, ["X-Sum", "abc", "X-Empty", ""], `cut at ${cut}`);
    }
    const everyByte = Array.from({ length: body.length }, (_, i) => i);
    assert.equal(decode(body, everyByte).data, payload);
  });

  it("stops at the end of the body and leaves the next pipelined message", () => {
    const next = "GET / HTTP/1.1\r\n";
    const buf = bytes(`3\r\nabc\r\n0\r\n\r\n${next}`);
    const decoder = new ChunkedDecoder();
    const used = decoder.push(buf, 0, buf.length);
    assert.equal(used, buf.length - next.length);
    assert.equal(decoder.done, true);
    assert.equal(decoder.push(buf, used, buf.length), 0, "nothing more once done");
  });

  it("has no trailers when the last chunk is followed directly by CRLF", () => {
    const { decoder, data } = decode("0\r\n\r\n");
    assert.equal(decoder.done, true);
    assert.equal(data, "");
    assert.deepEqual(decoder.trailers, []);
  });

  it("is not done until the final CRLF arrives", () => {
    const raw = "2\r\nhi\r\n0\r\nX-A: 1\r\n\r\n";
    const buf = bytes(raw);
    const decoder = new ChunkedDecoder();
    assert.equal(decoder.push(buf, 0, buf.length - 1), buf.length - 1);
    assert.equal(decoder.done, false);
    assert.equal(decoder.push(buf, buf.length - 1, buf.length), 1);
    assert.equal(decoder.done, true);
  });

  it("accepts upper- and lowercase hex and leading zeros up to 2^53 - 1", () => {
    assert.equal(decode("00000A\r\n0123456789\r\n0\r\n\r\n").data, "0123456789");
    assert.equal(decode("a\r\n0123456789\r\n0\r\n\r\n").data, "0123456789");
    const huge = new ChunkedDecoder();
    const line = bytes("1FFFFFFFFFFFFF\r\n");
    assert.equal(huge.push(line, 0, line.length), line.length);
    assert.equal(huge.done, false);
  });

  it("accepts token and quoted extension values with quoted-pairs", () => {
    assert.equal(decode('1;a=b;c="x\\"y z";d\r\nZ\r\n0\r\n\r\n').data, "Z");
  });

  it("rejects whitespace anywhere in a chunk-size line, as Node's parser does", () => {
    for (const line of ["1 ;a", "1\t;a", "1; a", "1;a =b", "1;a= b", "1;a=b ;c", "1;a ", "1;a=b\t"]) {
      rejects(`${line}\r\nZ\r\n0\r\n\r\n`);
    }
  });

  it("starts over after reset, with fresh trailers", () => {
    const { decoder } = decode("0\r\nX-A: 1\r\n\r\n");
    const first = decoder.trailers;
    decoder.reset();
    assert.equal(decoder.done, false);
    assert.deepEqual(decoder.trailers, []);
    assert.deepEqual(first, ["X-A", "1"], "trailers handed out before are left alone");
    const buf = bytes("1\r\nq\r\n0\r\n\r\n");
    assert.equal(decoder.push(buf, 0, buf.length), buf.length);
    assert.equal(decoder.done, true);
  });

  it("works without a sink", () => {
    const buf = bytes(body);
    const decoder = new ChunkedDecoder();
    assert.equal(decoder.push(buf, 0, buf.length), buf.length);
    assert.equal(decoder.done, true);
  });

  it("rejects invalid chunk sizes", () => {
    for (const size of ["0x5", "-1", "+5", "5 ", " 5", "", "g", "5_0", "fffffffffffffffff", "20000000000000"]) {
      rejects(`${size}\r\nhello\r\n0\r\n\r\n`);
    }
  });

  it("rejects invalid extension syntax", () => {
    for (const ext of [";", "; ", ";=a", ";a=", ";a= ", ";a=b ", ";a b", ';a="b', ';a="b\x00"', ';a="\\\x01"', ";a=b;", ";a\x01"]) {
      rejects(`1${ext}\r\nZ\r\n0\r\n\r\n`);
    }
  });

  it("rejects bare CR and bare LF and a missing CRLF after data", () => {
    for (const raw of ["1\nZ\r\n0\r\n\r\n", "1\rZ\r\n0\r\n\r\n", "1\r\nZ\n0\r\n\r\n", "1\r\nZX\r\n0\r\n\r\n", "0\r\n\n", "0\r\nA: 1\n\r\n"]) {
      rejects(raw);
    }
  });

  it("rejects invalid trailer fields", () => {
    for (const t of ["A : 1", " A: 1", "A", ": 1", "A: \x00", "A(: 1", "Content-Length: 1", "transfer-encoding: x", "HOST: a"]) {
      rejects(`0\r\n${t}\r\n\r\n`);
    }
  });

  it("enforces the chunk-size line and trailer section limits", () => {
    const options = { maxChunkLineLength: 10, maxTrailerSize: 20 };
    assert.equal(decode("1;abcdefgh\r\nZ\r\n0\r\n\r\n", [], options).data, "Z");
    assert.equal(rejects("1;abcdefghi\r\nZ\r\n0\r\n\r\n", options).status, 400);
    assert.equal(decode("0\r\nA: 1234567890123\r\n\r\n", [], options).decoder.done, true);
    assert.equal(rejects("0\r\nA: 12345678901234\r\n\r\n", options).status, 431);
  });
});
