/**
 * Parses a metrics exposition with the reference parser: the Python Prometheus
 * client's (Debian's python3-prometheus-client, installed by scripts/test.sh),
 * in its text-format or its stricter OpenMetrics mode. Throws what the parser
 * says when the exposition is invalid.
 */
import { spawnSync } from "node:child_process";

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  name: string;
  type: string;
  help: string;
  samples: ParsedSample[];
}

const SCRIPT = `
import json, math, sys
mode = sys.argv[1]
if mode == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
text = sys.stdin.read()
out = []
for f in text_string_to_metric_families(text):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels,
                             "value": s.value if math.isfinite(s.value) else str(s.value)} for s in f.samples]})
print(json.dumps(out))
`;

export function parseExposition(text: string, mode: "text" | "openmetrics"): ParsedFamily[] {
  const r = spawnSync("/usr/bin/python3", ["-c", SCRIPT, mode], { input: text, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`the ${mode} exposition does not parse:\n${r.stderr}`);
  return JSON.parse(r.stdout) as ParsedFamily[];
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when none. */
export function sampleValue(families: ParsedFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  const matches: number[] = [];
  for (const f of families) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) matches.push(s.value);
    }
  }
  if (matches.length > 1) throw new Error(`${matches.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matches[0];
}

/** Every sample of `name`. */
export function samples(families: ParsedFamily[], name: string): ParsedSample[] {
  return families.flatMap((f) => f.samples.filter((s) => s.name === name));
}
