import { BlockList } from "node:net";
import type { z } from "zod";
import { definePlugin } from "../plugin.js";
import { type ipFilterSchema, parseCidr } from "./schema.js";

type Options = z.output<typeof ipFilterSchema>;

/** Compile CIDR strings (validated by the schema) into one BlockList, or null when none. */
function compile(cidrs: readonly string[] | undefined): BlockList | null {
  if (cidrs === undefined) return null;
  const list = new BlockList();
  for (const text of cidrs) {
    const parsed = parseCidr(text);
    if (typeof parsed === "string") throw new TypeError(parsed);
    list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return list;
}

/**
 * `type: ip-filter` — refuse clients by IP: `deny` CIDRs are refused, and when
 * `allow` is set only its CIDRs pass. Checks exchange.request.clientIp (trusted
 * proxies already applied). IPv4-mapped IPv6 addresses match IPv4 rules and back.
 *
 * @example
 * middlewares:
 *   office-only: { type: ip-filter, allow: [10.0.0.0/8, "2001:db8::/32"], deny: [10.6.6.0/24] }
 */
export const ipFilterPlugin = definePlugin<Options>({
  name: "ip-filter",
  create(options, { metrics }) {
    const allow = compile(options.allow);
    const deny = compile(options.deny);
    const decisions = metrics.counter("divisor_ip_filter_decisions", "Requests checked by an ip-filter middleware, by result (allowed, denied).", ["result"]);
    const allowed = decisions.labels("allowed");
    const denied = decisions.labels("denied");
    const { status, message } = options;
    const headers = { "content-type": "text/plain; charset=utf-8" };
    return {
      onRequest(ex) {
        const ip = ex.request.clientIp;
        // BlockList answers false for an address of the other family or one that does not parse.
        const family = ip.includes(":") ? "ipv6" : "ipv4";
        if (deny?.check(ip, family) || (allow !== null && !allow.check(ip, family))) {
          denied.inc();
          return ex.respond(status, message, headers);
        }
        allowed.inc();
        return undefined;
      },
    };
  },
});
