/**
 * Errors are values with stable codes. Every error Divisor throws on purpose is a
 * `DivisorError` whose `code` never changes between releases, so callers can
 * branch on it and docs can list it.
 *
 * @example
 * try { await gateway.reload(next) } catch (err) {
 *   if (err instanceof DivisorError && err.code === "ERR_CONFIG_INVALID") console.error(err.message)
 * }
 */
export class DivisorError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One problem in a configuration document, located as precisely as we can. */
export interface ConfigIssue {
  /** File the problem is in, or "<object>" for config-as-code. */
  file: string;
  /** 1-based line and column; 0 when unknown (config-as-code). */
  line: number;
  column: number;
  /** Path in the document, e.g. `services.api.backends[0].address`. */
  path: string;
  /** What is wrong and what is expected. */
  message: string;
}

/** A configuration that does not parse or does not match the schema. */
export class ConfigError extends DivisorError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super("ERR_CONFIG_INVALID", formatIssues(issues));
    this.issues = issues;
  }
}

/**
 * Renders issues for a terminal: per issue, `file:line:column` (which editors and
 * terminals turn into a link) and the document path, then the message indented
 * below it, so long messages stay readable.
 *
 * @example
 * invalid configuration (1 problem):
 *   divisor.yaml:3:14  listeners[0].address
 *     expected "host:port", e.g. "127.0.0.1:8080" or "[::1]:8080", found "localhost"
 */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  const lines = issues.map((i) => {
    const where = i.line > 0 ? `${i.file}:${i.line}:${i.column}` : i.file;
    return `  ${i.path === "" ? where : `${where}  ${i.path}`}\n    ${i.message}`;
  });
  return `invalid configuration (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n${lines.join("\n")}`;
}

/** A malformed or ambiguous HTTP message; the connection it came on is closed. */
export class HttpParseError extends DivisorError {
  /** Status to answer the client with when this came from a request (400, 414, 431, 501). */
  readonly status: number;
  constructor(reason: string, status = 400) {
    super("ERR_HTTP_PARSE", reason);
    this.status = status;
  }
}

/**
 * A body filter refusing the body it was given, e.g. a compressed request body that is
 * corrupt or inflates past its limit. Pass it to `BodySink.error`: the client gets
 * `status` (and the connection closes) when no response has started yet, otherwise the
 * connection is cut. `code` is the filter's own stable code ("ERR_..." by convention).
 */
export class BodyFilterError extends DivisorError {
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(code, message);
    this.status = status;
  }
}

/** Why an exchange could not be completed upstream; mapped to 502/503/504 in one place. */
export type UpstreamFailure =
  | "connect-refused"
  | "connect-timeout"
  | "connect-error"
  | "tls-error"
  | "response-timeout"
  | "protocol-error"
  | "reset"
  | "no-backend"
  | "pool-exhausted";

export class UpstreamError extends DivisorError {
  readonly failure: UpstreamFailure;
  constructor(failure: UpstreamFailure, message: string, options?: { cause?: unknown }) {
    super(`ERR_UPSTREAM_${failure.toUpperCase().replaceAll("-", "_")}`, message, options);
    this.failure = failure;
  }
}

/** The one place upstream failures become HTTP statuses. */
export function statusForUpstreamFailure(failure: UpstreamFailure): number {
  switch (failure) {
    case "no-backend":
    case "pool-exhausted":
      return 503;
    case "connect-timeout":
    case "response-timeout":
      return 504;
    default:
      return 502;
  }
}

/**
 * A plugin of the config's `plugins:` that cannot be used: its module is not found
 * (`ERR_PLUGIN_NOT_FOUND`), is not a file type Divisor loads
 * (`ERR_PLUGIN_FILE_TYPE`), fails to import (`ERR_PLUGIN_IMPORT`), exports no plugin
 * (`ERR_PLUGIN_EXPORT`), or its `init` / `reload` hook threw (`ERR_PLUGIN_INIT`,
 * `ERR_PLUGIN_RELOAD`). The message names the entry, the file and how to fix it; the
 * original error is the `cause`.
 *
 * @example
 * try { await gateway.listen() } catch (err) {
 *   if (err instanceof PluginError && err.code === "ERR_PLUGIN_INIT") console.error(`plugin ${err.plugin} could not start:`, err.cause)
 * }
 */
export class PluginError extends DivisorError {
  /** The entry's name (`plugins[].name`, or a code plugin's name). */
  readonly plugin: string;
  constructor(code: string, plugin: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.plugin = plugin;
  }
}
