// Bench peer: node-http-proxy with a keep-alive agent. Plain .mjs so no TypeScript loader is measured.
// Usage: node node-http-proxy.mjs <listen port> <backend port>
import http from "node:http";
import httpProxy from "http-proxy";

const [port, backendPort] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${backendPort}`, agent });
proxy.on("error", (_err, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502);
  res.end();
});
http.createServer((req, res) => proxy.web(req, res)).listen(port, "127.0.0.1");
