/**
 * The gateway's loggers: one pino child logger per component (`component` in
 * every line), each with its own level. Levels come from `logging.level` and
 * `logging.components`; PUT /api/logging changes them at run time, and the
 * change holds until a reload that changes `logging.level` or
 * `logging.components` (or a restart).
 */
import { LOG_COMPONENT_NAMES, type LogComponent, type LoggingConfig, type LogLevel } from "../config/schema-observability.js";
import { ConfigError } from "../errors.js";
import type { Logger } from "./logger.js";

/** Levels in force: the default and each component's. */
export interface LogLevels {
  level: LogLevel;
  components: Record<LogComponent, LogLevel>;
}

/** A run-time change of levels (PUT /api/logging). */
export interface LogLevelChange {
  level?: LogLevel;
  components?: Partial<Record<LogComponent, LogLevel>>;
}

type Configured = Pick<LoggingConfig, "level" | "components">;

/**
 * The gateway's loggers as the library (`gateway.logs`) and the admin API see them.
 *
 * @example
 * gateway.logs.get("health").info("from my code, as the health component");
 * gateway.logs.set({ components: { breaker: "debug" } });
 */
export interface GatewayLoggers {
  /** The pino logger of one component (lines carry `component`). */
  get(component: LogComponent): Logger;
  /** The levels in force. */
  levels(): LogLevels;
  /** Change levels at run time (until a reload changes `logging.level`/`components`, or a restart). */
  set(change: LogLevelChange): LogLevels;
}

export class GatewayLogs implements GatewayLoggers {
  readonly root: Logger;
  private readonly loggers: Record<LogComponent, Logger>;
  private configured: Configured;
  /** Changes made through the admin API since the last reload that changed `logging`. */
  private changed: { level: LogLevel | undefined; components: Partial<Record<LogComponent, LogLevel>> } = { level: undefined, components: {} };

  constructor(root: Logger, config: Configured) {
    this.root = root;
    this.configured = config;
    const loggers = {} as Record<LogComponent, Logger>;
    for (const c of LOG_COMPONENT_NAMES) loggers[c] = root.child({ component: c });
    this.loggers = loggers;
    this.apply();
  }

  /** The logger of one component. */
  get(component: LogComponent): Logger {
    return this.loggers[component];
  }

  levels(): LogLevels {
    const components = {} as Record<LogComponent, LogLevel>;
    for (const c of LOG_COMPONENT_NAMES) components[c] = this.levelOf(c);
    return { level: this.changed.level ?? this.configured.level, components };
  }

  /** Change levels at run time (until a reload changes `logging` or the process restarts). */
  set(change: LogLevelChange): LogLevels {
    if (change.level !== undefined) {
      this.changed.level = change.level;
      // A new default reaches every component not named in this change, including ones changed before.
      if (change.components === undefined) this.changed.components = {};
    }
    Object.assign(this.changed.components, change.components);
    this.apply();
    return this.levels();
  }

  /** A reload: new configured levels; run-time changes are dropped only when these differ. */
  configure(config: Configured): void {
    if (config.level === this.configured.level && sameLevels(config.components, this.configured.components)) {
      this.configured = config;
      return;
    }
    this.configured = config;
    this.changed = { level: undefined, components: {} };
    this.apply();
  }

  private levelOf(c: LogComponent): LogLevel {
    return this.changed.components[c] ?? (this.changed.level === undefined ? this.configured.components[c] : undefined) ?? this.changed.level ?? this.configured.level;
  }

  private apply(): void {
    for (const c of LOG_COMPONENT_NAMES) this.loggers[c].level = this.levelOf(c);
  }
}

/** An error as log fields: its message, and for a refused configuration every located problem. */
export function describeFailure(err: unknown): { err: string; issues?: string[] } {
  if (err instanceof ConfigError) return { err: "invalid configuration", issues: err.issues.map((i) => `${i.file}:${i.line}:${i.column} ${i.path}: ${i.message}`) };
  return { err: err instanceof Error ? err.message : String(err) };
}

function sameLevels(a: Configured["components"], b: Configured["components"]): boolean {
  return LOG_COMPONENT_NAMES.every((c) => a[c] === b[c]);
}
