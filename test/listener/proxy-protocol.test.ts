import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ProxyProtocolError, parseProxyHeader, proxyHeaderBytes } from "../../src/listener/proxy-protocol.js";

const SIG = Buffer.from("0d0a0d0a000d0a515549540a", "hex");

function v2(command: number, family: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | command;
  head[1] = family;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIG, head, body]);
}

describe("PROXY protocol header parsing", () => {
  test("v1 TCP4, TCP6 and UNKNOWN, with the bytes after the header left alone", () => {
    const buf = Buffer.from("PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n");
    const r = parseProxyHeader(buf);
    assert.ok(r !== null && r !== "none");
    assert.deepEqual(r.header, { version: 1, source: { address: "203.0.113.7", port: 56324 } });
    assert.equal(buf.subarray(r.length).toString(), "GET / HTTP/1.1\r\n");
    const six = parseProxyHeader(Buffer.from("PROXY TCP6 2001:db8::7 2001:db8::1 1000 80\r\n"));
    assert.ok(six !== null && six !== "none");
    assert.deepEqual(six.header.source, { address: "2001:db8::7", port: 1000 });
    const unknown = parseProxyHeader(Buffer.from("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"));
    assert.ok(unknown !== null && unknown !== "none");
    assert.equal(unknown.header.source, null);
  });

  test("v2 PROXY over TCP4 and TCP6 (with TLVs after the addresses), and LOCAL", () => {
    const four = Buffer.from([203, 0, 113, 7, 10, 0, 0, 1, 0xdc, 0x04, 0x01, 0xbb, /* TLV */ 0x04, 0x00, 0x01, 0x00]);
    const r = parseProxyHeader(Buffer.concat([v2(1, 0x11, four), Buffer.from("rest")]));
    assert.ok(r !== null && r !== "none");
    assert.deepEqual(r.header, { version: 2, source: { address: "203.0.113.7", port: 0xdc04 } });
    assert.equal(r.length, 16 + four.length);
    const addr6 = Buffer.alloc(36);
    Buffer.from("20010db8000000000000000000000007", "hex").copy(addr6, 0);
    addr6.writeUInt16BE(4242, 32);
    const six = parseProxyHeader(v2(1, 0x21, addr6));
    assert.ok(six !== null && six !== "none");
    assert.deepEqual(six.header.source, { address: "2001:db8::7", port: 4242 });
    const local = parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)));
    assert.ok(local !== null && local !== "none");
    assert.equal(local.header.source, null);
  });

  test("a partial header asks for more bytes; a connection that does not start with one is told apart at once", () => {
    assert.equal(parseProxyHeader(Buffer.from("PRO")), null);
    assert.equal(parseProxyHeader(Buffer.from("PROXY TCP4 1.2.3.4")), null);
    assert.equal(parseProxyHeader(SIG.subarray(0, 5)), null);
    assert.equal(parseProxyHeader(v2(1, 0x11, Buffer.alloc(12)).subarray(0, 20)), null);
    assert.equal(parseProxyHeader(Buffer.from("GET / HTTP/1.1\r\n")), "none");
    assert.equal(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01])), "none", "a TLS ClientHello");
  });

  test("malformed headers are refused with what is wrong", () => {
    const bad = (b: Buffer, re: RegExp) => assert.throws(() => parseProxyHeader(b), (e: unknown) => e instanceof ProxyProtocolError && re.test(e.message));
    bad(Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), /5 fields, expected 6/);
    bad(Buffer.from("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), /not TCP4, TCP6 or UNKNOWN/);
    bad(Buffer.from("PROXY TCP4 ::1 5.6.7.8 1 2\r\n"), /not TCP4 addresses/);
    bad(Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n"), /ports/);
    bad(Buffer.from(`PROXY TCP4 ${"1".repeat(120)}`), /longer than 107/);
    const wrongVersion = v2(1, 0x11, Buffer.alloc(12));
    wrongVersion[12] = 0x31;
    bad(wrongVersion, /version 3/);
    bad(v2(1, 0x11, Buffer.alloc(4)), /TCP4 addresses are truncated/);
    const huge = Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])]);
    bad(huge, /over/);
  });

  test("headers Divisor sends parse back to what they say, v1 and v2, IPv4, IPv6 and mixed", () => {
    const cases: [1 | 2, string, string, string][] = [
      [1, "203.0.113.7", "10.0.0.1", "203.0.113.7"],
      [2, "203.0.113.7", "10.0.0.1", "203.0.113.7"],
      [1, "2001:db8::7", "2001:db8::1", "2001:db8::7"],
      [2, "2001:db8::7", "2001:db8::1", "2001:db8::7"],
      [2, "203.0.113.7", "2001:db8::1", "::ffff:203.0.113.7"],
    ];
    for (const [version, src, dst, expected] of cases) {
      const bytes = proxyHeaderBytes(version, { address: src, port: 40000 }, { address: dst, port: 443 });
      const r = parseProxyHeader(bytes);
      assert.ok(r !== null && r !== "none", `${version} ${src}`);
      assert.equal(r.length, bytes.length);
      assert.equal(r.header.version, version);
      assert.deepEqual(r.header.source, { address: expected, port: 40000 }, `${version} ${src} -> ${dst}`);
    }
    assert.equal(proxyHeaderBytes(1, { address: "1.2.3.4", port: 5 }, { address: "6.7.8.9", port: 80 }).toString(), "PROXY TCP4 1.2.3.4 6.7.8.9 5 80\r\n");
  });
});
