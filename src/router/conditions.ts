// Hot path: method and header conditions, checked for each candidate router (compile helpers below run once).
import type { HeaderMatch } from "../config/schema.js";

/** What the conditions read from a request. */
export interface ConditionSource {
  readonly method: string;
  /** Value of a request header (name lowercase), or undefined. */
  header(name: string): string | undefined;
}

const VALUE = 0;
const REGEX = 1;
const PRESENT = 2;

/** One header condition: value equality (case-sensitive), regex, or presence. */
export class HeaderCondition {
  constructor(
    /** Lowercase header name. */
    readonly name: string,
    readonly kind: typeof VALUE | typeof REGEX | typeof PRESENT,
    readonly value: string,
    readonly regex: RegExp | null,
    readonly present: boolean,
  ) {}
}

/** True when the method list is absent or holds the request method. */
export function methodAllowed(methods: readonly string[] | null, method: string): boolean {
  if (methods === null) return true;
  for (let i = 0; i < methods.length; i++) if (methods[i] === method) return true;
  return false;
}

/** True when every header condition holds. */
export function headersPass(conditions: readonly HeaderCondition[] | null, req: ConditionSource): boolean {
  if (conditions === null) return true;
  for (let i = 0; i < conditions.length; i++) {
    const c = conditions[i]!;
    const v = req.header(c.name);
    if (c.kind === VALUE) {
      if (v !== c.value) return false;
    } else if (c.kind === REGEX) {
      if (v === undefined || !c.regex!.test(v)) return false;
    } else if ((v !== undefined) !== c.present) return false;
  }
  return true;
}

// ---------------------------------------------------------------- compile time and explain

/** Compiles header conditions; an invalid regex goes to `report(index, message)`. */
export function compileHeaders(list: readonly HeaderMatch[] | undefined, report: (index: number, message: string) => void): HeaderCondition[] | null {
  if (list === undefined || list.length === 0) return null;
  return list.map((h, i) => {
    const name = h.name.toLowerCase();
    if ("value" in h) return new HeaderCondition(name, VALUE, h.value, null, true);
    if ("present" in h) return new HeaderCondition(name, PRESENT, "", null, h.present);
    try {
      return new HeaderCondition(name, REGEX, h.regex, new RegExp(h.regex), true);
    } catch (err) {
      report(i, `invalid regular expression: ${(err as Error).message}`);
      return new HeaderCondition(name, PRESENT, "", null, true);
    }
  });
}

/** `x-env=prod`, `x-env~^pr`, `x-env present`, `x-env absent`. */
export function describeHeader(c: HeaderCondition): string {
  if (c.kind === VALUE) return `${c.name}=${c.value}`;
  if (c.kind === REGEX) return `${c.name}~${c.value}`;
  return `${c.name} ${c.present ? "present" : "absent"}`;
}

/** Why a header condition fails for this request, or undefined when it holds. */
export function headerFailure(c: HeaderCondition, req: ConditionSource): string | undefined {
  const v = req.header(c.name);
  if (c.kind === PRESENT) {
    if ((v !== undefined) === c.present) return undefined;
    return c.present ? `header ${c.name} is missing` : `header ${c.name} is present, must be absent`;
  }
  if (v === undefined) return `header ${c.name} is missing`;
  if (c.kind === VALUE) return v === c.value ? undefined : `header ${c.name} is ${JSON.stringify(v)}, expected ${JSON.stringify(c.value)}`;
  return c.regex!.test(v) ? undefined : `header ${c.name} ${JSON.stringify(v)} does not match /${c.value}/`;
}
