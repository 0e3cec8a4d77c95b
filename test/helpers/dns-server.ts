// A small DNS server over UDP for tests: answers A 127.0.0.1 for any name (or the
// address `answers` gives it), AAAA and every other type with no records, so a
// program told to use it (pebble's -dnsserver) resolves test names to loopback.
import dgram from "node:dgram";
import dnsPacket from "dns-packet";

export interface TestDnsServer {
  /** "127.0.0.1:<port>". */
  address: string;
  port: number;
  /** Names asked so far (lowercase), with their type, e.g. "A shop.example.com". */
  queries: string[];
  /** Per-name A answers in place of 127.0.0.1 (lowercase names). */
  answers: Map<string, string>;
  close(): Promise<void>;
}

export async function startDnsServer(): Promise<TestDnsServer> {
  const socket = dgram.createSocket("udp4");
  const server: TestDnsServer = {
    address: "",
    port: 0,
    queries: [],
    answers: new Map(),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on("message", (msg, rinfo) => {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const answers: dnsPacket.Answer[] = [];
    for (const q of query.questions ?? []) {
      const name = q.name.toLowerCase();
      server.queries.push(`${q.type} ${name}`);
      if (q.type === "A") answers.push({ type: "A", name: q.name, ttl: 1, class: "IN", data: server.answers.get(name) ?? "127.0.0.1" });
    }
    const response = dnsPacket.encode({
      id: query.id,
      type: "response",
      flags: dnsPacket.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED),
      questions: query.questions,
      answers,
    });
    socket.send(response, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  server.port = socket.address().port;
  server.address = `127.0.0.1:${server.port}`;
  return server;
}
