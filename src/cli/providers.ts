/** `divisor providers`: each provider's state on a running gateway, through its admin API. */
import type { Command } from "commander";
import type { ProviderSnapshot } from "../providers/manager.js";
import type { AdminClientOptions } from "./admin-client.js";

interface ProvidersOptions extends AdminClientOptions {
  worker?: string;
}

export function registerProviders(program: Command): void {
  program
    .command("providers")
    .description("show each provider's state (ok, refused, failed), last error and what it holds, on a running gateway, through its admin API")
    .option("--admin <url>", "the admin API's URL (default: admin.address of -c FILE, else http://127.0.0.1:9901)")
    .option("-c, --config <file>", "read the admin address from this configuration file")
    .option("--token <token>", "admin bearer token (default: the DIVISOR_ADMIN_TOKEN environment variable)")
    .option("--worker <slot>", "under --workers: ask this worker (each runs its own providers)")
    .action((opts: ProvidersOptions) => run(opts));
}

async function run(opts: ProvidersOptions): Promise<void> {
  const client = await import("./admin-client.js");
  const url = new URL("/api/providers", await client.adminUrl(opts));
  if (opts.worker !== undefined) url.searchParams.set("worker", opts.worker);
  const token = opts.token ?? process.env.DIVISOR_ADMIN_TOKEN;
  let res: Awaited<ReturnType<typeof client.adminRequest>>;
  try {
    res = await client.adminRequest(url, token);
  } catch (err) {
    return client.unreachable(url, err);
  }
  if (res.statusCode !== 200) return client.refuse(await client.refusal(res, url, token !== undefined));
  const { providers } = JSON.parse(await client.readText(res)) as { providers: ProviderSnapshot[] };
  if (providers.length === 0) {
    process.stdout.write("no providers are configured (providers: in the configuration)\n");
    return;
  }
  const lines: string[] = [];
  for (const p of providers) {
    const h = p.holds;
    const holds = `${h.routers} router(s), ${h.services} service(s), ${h.middlewares} middleware(s), ${h.tenants} tenant(s), ${h.backends} backend(s)`;
    lines.push(`${p.name} (${p.type}): ${p.state}; holds ${holds}; updates ${p.updates.accepted} accepted, ${p.updates.refused} refused; ${p.errors} source error(s); last success ${p.lastSuccessAt ?? "never"}`);
    if (p.lastError !== null) lines.push(`  last error (${p.lastErrorAt}):`, ...p.lastError.split("\n").map((l) => `    ${l}`));
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}
