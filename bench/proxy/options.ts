/** Command-line options of `npm run bench`. */
import { parseArgs } from "node:util";
import { TARGET_IDS } from "./targets.js";

export type Scenario = "get" | "post-1k";

export interface BenchOptions {
  /** Seconds of each measured wrk run. */
  readonly duration: number;
  /** Seconds of the warm-up run before it (not measured). */
  readonly warmup: number;
  readonly connections: number;
  /** Target ids to run, in the report's order. */
  readonly only: readonly string[];
  readonly scenario: Scenario;
  /** Write the results to bench/results/<timestamp>.json. */
  readonly json: boolean;
  readonly help: boolean;
}

export const USAGE = `usage: npm run bench -- [options]

  --duration <s>       seconds of each measured run (default 10)
  --warmup <s>         seconds of the warm-up run before it (default 3)
  --connections <n>    wrk connections (default 50)
  --only <ids>         comma-separated targets (default all): ${TARGET_IDS.join(",")}
  --scenario <name>    get (12-byte GET, default) or post-1k (POST with a 1 KiB body)
  --json               also write the results to bench/results/<timestamp>.json
  --help               this text
`;

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} expects a positive whole number, got "${text}"`);
  return n;
}

/** Parses argv (without node and the script); throws with a readable message on bad input. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      duration: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string" },
      only: { type: "string" },
      scenario: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  const only = values.only === undefined ? [...TARGET_IDS] : values.only.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const unknown = only.filter((id) => !TARGET_IDS.includes(id));
  if (unknown.length > 0) throw new Error(`--only: unknown target ${unknown.join(", ")}; known: ${TARGET_IDS.join(", ")}`);
  const scenario = values.scenario ?? "get";
  if (scenario !== "get" && scenario !== "post-1k") throw new Error(`--scenario expects get or post-1k, got "${scenario}"`);
  return {
    duration: positive("duration", values.duration, 10),
    warmup: values.warmup === "0" ? 0 : positive("warmup", values.warmup, 3),
    connections: positive("connections", values.connections, 50),
    // Keep the report's order whatever order --only lists them in.
    only: TARGET_IDS.filter((id) => only.includes(id)),
    scenario,
    json: values.json,
    help: values.help,
  };
}
