import dgram from "node:dgram";
import * as packet from "dns-packet";

/** The records a test DNS server answers with, by lower-case name; change them at any time. */
export interface Zone {
  A?: { address: string; ttl: number }[];
  AAAA?: { address: string; ttl: number }[];
  SRV?: { target: string; port: number; priority: number; weight: number; ttl: number }[];
}

/**
 * A real UDP DNS server on 127.0.0.1 (a free port), answering from `zones`; with
 * `anyName`, every name without a zone gets that A record (ttl 1), so a program told to
 * use it (pebble's -dnsserver) resolves any test name to loopback.
 */
export interface TestDns {
  /** "127.0.0.1:<port>", for Resolver.setServers / the dns provider's `servers`. */
  server: string;
  zones: Map<string, Zone>;
  /** Answer SERVFAIL to every query while true. */
  failing: boolean;
  /** Queries received, by "TYPE name". */
  queries: Map<string, number>;
  close(): Promise<void>;
}

export async function startDns(options: { anyName?: string } = {}): Promise<TestDns> {
  const socket = dgram.createSocket("udp4");
  const dns: TestDns = {
    server: "",
    zones: new Map(),
    failing: false,
    queries: new Map(),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on("message", (msg, rinfo) => {
    let query: packet.Packet;
    try {
      query = packet.decode(msg);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (question === undefined) return;
    const name = question.name.toLowerCase();
    const key = `${question.type} ${name}`;
    dns.queries.set(key, (dns.queries.get(key) ?? 0) + 1);
    const zone = dns.zones.get(name) ?? (options.anyName === undefined ? undefined : { A: [{ address: options.anyName, ttl: 1 }] });
    const answers: packet.Answer[] = [];
    if (zone !== undefined && question.type === "A") for (const r of zone.A ?? []) answers.push({ type: "A", name: question.name, ttl: r.ttl, data: r.address });
    if (zone !== undefined && question.type === "AAAA") for (const r of zone.AAAA ?? []) answers.push({ type: "AAAA", name: question.name, ttl: r.ttl, data: r.address });
    if (zone !== undefined && question.type === "SRV") {
      for (const r of zone.SRV ?? []) answers.push({ type: "SRV", name: question.name, ttl: r.ttl, data: { target: r.target, port: r.port, priority: r.priority, weight: r.weight } });
    }
    // rcode 2 = SERVFAIL, 3 = NXDOMAIN; no answers for a known name = NODATA.
    const rcode = dns.failing ? 2 : zone === undefined ? 3 : 0;
    const response = packet.encode({
      id: query.id,
      type: "response",
      flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | rcode,
      questions: query.questions,
      answers: dns.failing ? [] : answers,
    });
    socket.send(response, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  dns.server = `127.0.0.1:${socket.address().port}`;
  return dns;
}
