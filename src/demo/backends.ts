import type http from "node:http";

/** Demo backends started in the gateway's process by the bundled default config. */
export interface DemoBackends {
  readonly addresses: readonly string[];
  close(): Promise<void>;
}

/**
 * Start small HTTP servers that answer every request with their own name, so a
 * newcomer sees requests spread over backends with a `curl` loop.
 */
export async function startDemoBackends(backends: readonly { name: string; address: string }[]): Promise<DemoBackends> {
  // Imported here, not at the top: the gateway itself never needs node:http (~3 MB of RSS).
  const { createServer } = await import("node:http");
  const servers: http.Server[] = [];
  const addresses: string[] = [];
  try {
    for (const { name, address } of backends) {
      const server = createServer((req, res) => {
        req.resume();
        req.on("end", () => {
          const body = `${JSON.stringify({ backend: name, method: req.method, path: req.url, host: req.headers.host ?? null, forwardedFor: req.headers["x-forwarded-for"] ?? null })}\n`;
          res.writeHead(200, { "content-type": "application/json", "x-demo-backend": name });
          res.end(body);
        });
      });
      const i = address.lastIndexOf(":");
      await new Promise<void>((resolve, reject) => {
        server.once("error", (err) => reject(new Error(`demo backend ${name} cannot listen on ${address}: ${err.message}`)));
        server.listen(Number(address.slice(i + 1)), address.slice(0, i), () => resolve());
      });
      servers.push(server);
      addresses.push(address);
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }
  return {
    addresses,
    close: async () => {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
}
