/** The text table printed by `divisor routes`. */
import { describeHeader } from "./conditions.js";
import { describePath } from "./path.js";
import type { RouterTable } from "./table.js";

const COLUMNS = ["#", "router", "tenant", "hosts", "path", "methods", "headers", "priority", "service", "middlewares"];

/**
 * Text table of the routers in precedence order (the order a request tries them,
 * by each router's most specific host): router, tenant, hosts, path, methods,
 * headers, priority, service, middlewares, and a `target` column when
 * `describeTarget` is given. Empty cells read "-"; "*" means any.
 *
 * @example
 * console.log(formatRouteTable(table));
 * // #  router  tenant  hosts            path         methods  headers  priority  service  middlewares
 * // 1  api     -       api.example.com  prefix /v1   GET      -        0         api      auth
 */
export function formatRouteTable(table: RouterTable<unknown>, describeTarget?: (t: unknown) => string): string {
  const header = describeTarget === undefined ? COLUMNS : [...COLUMNS, "target"];
  const rows = table.routes.map((r, i) => {
    const row = [
      String(i + 1),
      r.name,
      r.tenant ?? "-",
      r.hosts.map((h) => h.text).join(","),
      r.path.kind === "none" ? "*" : describePath(r.path),
      r.methods === null ? "*" : r.methods.join(","),
      r.headers === null ? "-" : r.headers.map(describeHeader).join(", "),
      String(r.priority),
      r.config.service ?? "-",
      r.config.middlewares.length === 0 ? "-" : r.config.middlewares.join(","),
    ];
    if (describeTarget !== undefined) row.push(describeTarget(r.target));
    return row;
  });
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join("  ")
      .trimEnd();
  const lines = [line(header), ...rows.map(line)];
  if (rows.length === 0) lines.push("(no routers)");
  return `${lines.join("\n")}\n`;
}
