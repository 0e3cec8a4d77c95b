/** `divisor split`: read or change a split router's weights on a running gateway (a blue/green flip) through its admin API. */
import type { Command } from "commander";
import type { AdminClientOptions } from "./admin-client.js";

interface SplitOptions extends AdminClientOptions {
  reset?: boolean;
}

interface SplitAnswer {
  router: string;
  services: { service: string; weight: number; configuredWeight: number }[];
  overridden: boolean;
  overriddenAt: string | null;
}

export function registerSplit(program: Command): void {
  program
    .command("split")
    .description("show or change the weights of a router's traffic split on a running gateway, through its admin API (blue/green, canary)")
    .argument("<router>", 'the router (a tenant\'s: "<tenant>/<router>")')
    .argument("[weights...]", "service=weight for every service of the split, e.g. blue=0 green=100; none: show the weights in force")
    .option("--reset", "put the configuration's weights back in force")
    .option("--admin <url>", "the admin API's URL (default: admin.address of -c FILE, else http://127.0.0.1:9901)")
    .option("-c, --config <file>", "read the admin address from this configuration file")
    .option("--token <token>", "admin bearer token (default: the DIVISOR_ADMIN_TOKEN environment variable)")
    .addHelpText(
      "after",
      [
        "",
        "Weights are whole numbers, at least one above 0. They apply to the next request at once; requests in flight finish",
        "where they are. They stay in force through reloads that leave the router's split in the file unchanged.",
        "Examples:",
        "  divisor split shop -c divisor.yaml                    # show",
        "  divisor split shop blue=0 green=100 -c divisor.yaml   # flip to green",
        "  divisor split shop --reset -c divisor.yaml            # the file's weights again",
      ].join("\n"),
    )
    .action((router: string, weights: string[], opts: SplitOptions) => run(router, weights, opts));
}

/** `blue=0` pairs as the PUT body's weights; exits with a message on anything else. */
function parseWeights(pairs: readonly string[], refuse: (message: string) => never): Record<string, number> {
  const weights: Record<string, number> = {};
  for (const pair of pairs) {
    const m = /^([^=]+)=(\d+)$/.exec(pair);
    if (m === null) refuse(`"${pair}" is not service=weight with a whole number ≥ 0, like blue=0 or green=100`);
    if (Object.hasOwn(weights, m[1]!)) refuse(`service "${m[1]}" is given twice`);
    weights[m[1]!] = Number(m[2]);
  }
  return weights;
}

async function run(router: string, pairs: string[], opts: SplitOptions): Promise<void> {
  const client = await import("./admin-client.js");
  if (opts.reset === true && pairs.length > 0) client.refuse("give weights or --reset, not both");
  const body = pairs.length > 0 ? JSON.stringify({ weights: parseWeights(pairs, client.refuse) }) : undefined;
  const method = opts.reset === true ? "DELETE" : body === undefined ? "GET" : "PUT";
  const url = new URL(`/api/routers/${encodeURIComponent(router)}/split`, await client.adminUrl(opts));
  const token = opts.token ?? process.env.DIVISOR_ADMIN_TOKEN;
  let res: Awaited<ReturnType<typeof client.adminRequest>>;
  try {
    res = await client.adminRequest(url, token, method, body);
  } catch (err) {
    return client.unreachable(url, err);
  }
  if (res.statusCode !== 200) return client.refuse(await client.refusal(res, url, token !== undefined));
  const answer = JSON.parse(await client.readText(res)) as SplitAnswer;
  const width = Math.max(...answer.services.map((s) => s.service.length));
  const state = answer.overridden ? `weights set through the admin API at ${answer.overriddenAt}` : "the configuration's weights";
  const lines = answer.services.map((s) => `  ${s.service.padEnd(width)}  ${String(s.weight).padStart(6)}${s.weight === s.configuredWeight ? "" : `   (configured: ${s.configuredWeight})`}`);
  process.stdout.write(`router ${answer.router}: ${state}\n${lines.join("\n")}\n`);
}
