// Bench peer: fastify with @fastify/http-proxy (undici upstream, keep-alive), logger off.
// Plain .mjs so no TypeScript loader is measured.
// Usage: node fastify-http-proxy.mjs <listen port> <backend port>
import proxy from "@fastify/http-proxy";
import Fastify from "fastify";

const [port, backendPort] = process.argv.slice(2).map(Number);
const app = Fastify({ logger: false });
await app.register(proxy, { upstream: `http://127.0.0.1:${backendPort}` });
await app.listen({ host: "127.0.0.1", port });
