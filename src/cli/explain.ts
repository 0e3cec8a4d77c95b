import type { Command } from "commander";
import { findCookie } from "../exchange/forwarding.js";
import { dirname, resolve } from "node:path";
import { compileRuntime } from "../gateway/runtime.js";
import { loadPluginsOffline } from "../middleware/plugin-loader.js";
import { hostWithoutPort } from "../listener/connection.js";
import { BackendRegistry, selectBackend } from "../service/service.js";
import { configPath, fail, loadWithKubernetesOrExit } from "./common.js";

interface ExplainOptions {
  config?: string;
  kubernetes?: string;
  header: string[];
  clientIp: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerExplain(program: Command): void {
  program
    .command("explain")
    .description("say which router a request matches, which middlewares run and which backend would be chosen, and why the other routers did not match")
    .argument("<method>", "request method, e.g. GET")
    .argument("<url>", "full URL, e.g. https://a.example.com/x?y=1")
    .option("-c, --config <file>", "configuration file (default: the bundled default config)")
    .option("--kubernetes <path>", "also route what the kubernetes provider makes of these manifests (a YAML file or directory of Services, EndpointSlices, Ingresses, Gateways, HTTPRoutes...)")
    .option("-H, --header <header>", 'request header "Name: value" (repeatable)', collect, [])
    .option("--client-ip <ip>", "client address used by hashing balancers", "127.0.0.1")
    .action(async (method: string, rawUrl: string, opts: ExplainOptions) => {
      let url: URL;
      try {
        url = new URL(rawUrl);
      } catch {
        fail(new Error(`"${rawUrl}" is not a URL; give a full URL like https://a.example.com/path`));
      }
      const headers = new Map<string, string>();
      for (const h of opts.header) {
        const i = h.indexOf(":");
        if (i <= 0) fail(new Error(`header "${h}" must look like "Name: value"`));
        headers.set(h.slice(0, i).trim().toLowerCase(), h.slice(i + 1).trim());
      }
      if (!headers.has("host")) headers.set("host", url.host);
      const path = configPath(opts.config);
      const config = await loadWithKubernetesOrExit(path, opts.kubernetes);
      // Plugin middlewares compile as stand-ins: the table is shown, no plugin code runs.
      const plugins = await loadPluginsOffline(config.plugins, dirname(resolve(path))).catch(fail);
      const registry = new BackendRegistry();
      try {
        const runtime = compileRuntime(config, registry, plugins.byName, new Set());
        const request = {
          host: hostWithoutPort(url.hostname.toLowerCase()),
          path: url.pathname,
          method: method.toUpperCase(),
          header: (name: string) => headers.get(name),
        };
        const { match, candidates } = runtime.routers.explain(request);
        const out: string[] = [`request: ${request.method} ${url.href}`];
        if (match === undefined) {
          out.push("router:  none matches: the gateway answers 404");
        } else {
          const t = match.route.target;
          out.push(`router:  ${t.router}${t.tenant === undefined ? "" : ` (tenant ${t.tenant})`}: ${match.route.describe()}`);
          if (match.params !== null) out.push(`params:  ${JSON.stringify(match.params)}`);
          out.push(`middlewares: ${t.middlewareNames.length === 0 ? "(none)" : t.middlewareNames.join(" > ")}`);
          const service = t.service;
          if (t.split !== null) {
            out.push(`split:   ${t.split.arms.map((a) => `${a.service}:${a.weight}`).join(" ")} (by weight, after the split's match rules and sticky cookie)`);
          } else if (service === undefined) {
            out.push("service: (none: a middleware must answer)");
          } else {
            const ctx = {
              clientIp: opts.clientIp,
              header: (name: string) => headers.get(name),
              cookie: (name: string) => findCookie(headers.get("cookie"), name),
            };
            const backend = selectBackend(service, ctx);
            out.push(`service: ${service.name} (${config.services[service.name]!.balancer.algorithm} over ${service.backends.length} backend(s))`);
            out.push(
              backend === undefined
                ? "backend: none available: the gateway answers 503"
                : `backend: ${backend.address}${service.balancer.describe === undefined ? "" : ` (${service.balancer.describe(ctx)})`}`,
            );
          }
        }
        const others = candidates.filter((c) => match === undefined || c.name !== match.route.name);
        if (others.length > 0) {
          out.push("other routers:");
          for (const c of others) out.push(`  ${c.name}: ${c.reason}`);
        }
        process.stdout.write(`${out.join("\n")}\n`);
      } catch (err) {
        fail(err);
      } finally {
        registry.destroyAll();
        await plugins.release();
      }
    });
}
