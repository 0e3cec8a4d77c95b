// What the ACME tests share: a TLS client that checks the served certificate against
// pebble's root, and a plain HTTP GET.
import tls from "node:tls";

export interface ServedCertificate {
  /** The certificate chained to the given CA and named the server name. */
  authorized: boolean;
  authorizationError: string | null;
  subjectAltName: string;
  issuer: string;
  fingerprint: string;
  notAfter: number;
  /** The HTTP response's status line and body, when a request was sent. */
  response: string;
}

/** A TLS handshake (and one GET) with `servername`, verifying against `ca` without failing on a mismatch. */
export function tlsGet(port: number, servername: string, ca: string | undefined, alpn?: string[]): Promise<ServedCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername, ca, rejectUnauthorized: false, ...(alpn === undefined ? {} : { ALPNProtocols: alpn }) }, () => {
      const peer = socket.getPeerCertificate();
      let response = "";
      const result = (): ServedCertificate => ({
        authorized: socket.authorized,
        authorizationError: socket.authorizationError === null ? null : String(socket.authorizationError),
        subjectAltName: peer.subjectaltname ?? "",
        issuer: String(peer.issuer?.CN ?? ""),
        fingerprint: peer.fingerprint256,
        notAfter: Date.parse(peer.valid_to),
        response,
      });
      socket.setEncoding("utf8");
      socket.on("data", (d: string) => (response += d));
      socket.on("end", () => resolve(result()));
      socket.on("close", () => resolve(result()));
      socket.write(`GET /whoami HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    });
    socket.once("error", reject);
  });
}

/** Polls `check` every 100 ms until it returns true or `timeoutMs` passes (then throws `what`). */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The value of the first sample of `family` whose labels include `labels` (e.g. 'result="issued"'), or undefined. */
export function sample(text: string, family: string, labels = ""): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${family}{`) && line.includes(labels)) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}
