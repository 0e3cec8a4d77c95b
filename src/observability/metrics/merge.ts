/**
 * Merges the expositions of several worker processes (`divisor start --workers N`)
 * into one: each family once, with every worker's samples labelled `worker="<i>"`,
 * so `sum without (worker) (...)` gives the gateway's totals.
 */

interface Family {
  /** The worker whose HELP/TYPE/UNIT lines stand for all. */
  owner: string;
  header: string[];
  samples: string[];
}

const NAME_END = /[^a-zA-Z0-9_:]/;

/** `name{a="b"} 1` → `name{worker="3",a="b"} 1`; `name 1` → `name{worker="3"} 1`. */
function withWorker(line: string, label: string): string {
  const m = NAME_END.exec(line);
  if (m === null) return line;
  const i = m.index;
  return line[i] === "{" ? `${line.slice(0, i + 1)}${label},${line.slice(i + 1)}` : `${line.slice(0, i)}{${label}}${line.slice(i)}`;
}

export function mergeExpositions(byWorker: ReadonlyMap<string, string>, openMetrics: boolean): string {
  const families = new Map<string, Family>();
  for (const [worker, text] of byWorker) {
    const label = `worker="${worker.replace(/[\\"\n]/g, "")}"`;
    let current: Family | undefined;
    for (const line of text.split("\n")) {
      if (line === "" || line === "# EOF") continue;
      if (line.startsWith("# ")) {
        const [, kind, name] = line.split(" ", 3);
        if (kind !== "HELP" && kind !== "TYPE" && kind !== "UNIT") continue;
        current = families.get(name!);
        if (current === undefined) {
          current = { owner: worker, header: [], samples: [] };
          families.set(name!, current);
        }
        if (current.owner === worker) current.header.push(line);
        continue;
      }
      current?.samples.push(withWorker(line, label));
    }
  }
  const out: string[] = [];
  for (const f of families.values()) out.push(...f.header, ...f.samples);
  if (openMetrics) out.push("# EOF");
  return `${out.join("\n")}\n`;
}
