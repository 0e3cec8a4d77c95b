// Hot path (routers with a compress middleware): is a response's media type compressible?

/**
 * A compiled list of media ranges: exact types ("application/json"), whole types
 * ("text/*") and structured-syntax suffixes ("application/*+json").
 */
export class MediaTypes {
  private readonly exact: Set<string>;
  private readonly prefixes: string[];
  /** [type prefix, suffix] pairs of "type/*+suffix". */
  private readonly suffixes: [string, string][];
  private lastValue: string | undefined = undefined;
  private lastResult = false;

  constructor(ranges: readonly string[]) {
    this.exact = new Set();
    this.prefixes = [];
    this.suffixes = [];
    for (const raw of ranges) {
      const range = raw.toLowerCase();
      const slash = range.indexOf("/");
      const sub = range.slice(slash + 1);
      if (sub === "*") this.prefixes.push(range.slice(0, slash + 1));
      else if (sub.startsWith("*+")) this.suffixes.push([range.slice(0, slash + 1), sub.slice(1)]);
      else this.exact.add(range);
    }
  }

  /** Whether a Content-Type value (parameters ignored, any case) is in the list; undefined is not. */
  matches(contentType: string | undefined): boolean {
    if (contentType === undefined) return false;
    // Most responses of a router share a Content-Type: remember the last answer.
    if (contentType === this.lastValue) return this.lastResult;
    const result = this.test(contentType);
    this.lastValue = contentType;
    this.lastResult = result;
    return result;
  }

  private test(contentType: string): boolean {
    const semi = contentType.indexOf(";");
    const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
    if (this.exact.has(type)) return true;
    for (const prefix of this.prefixes) if (type.startsWith(prefix) && type.length > prefix.length) return true;
    for (const [prefix, suffix] of this.suffixes) if (type.startsWith(prefix) && type.endsWith(suffix) && type.length > prefix.length + suffix.length) return true;
    return false;
  }
}
