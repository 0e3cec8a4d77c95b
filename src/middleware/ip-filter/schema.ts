import { isIP } from "node:net";
import { z } from "zod";

/** Parse "addr" or "addr/prefix" into its parts, or return an error message. */
export function parseCidr(text: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } | string {
  const slash = text.indexOf("/");
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return `"${text}" is not an IP address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32, 192.0.2.7)`;
  const max = version === 4 ? 32 : 128;
  const prefixText = slash === -1 ? String(max) : text.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix >= 0 && prefix <= max)) return `"${text}": the prefix length must be 0..${max} for an IPv${version} address`;
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

const cidr = z.string().superRefine((text, ctx) => {
  const parsed = parseCidr(text);
  if (typeof parsed === "string") ctx.addIssue({ code: "custom", message: parsed });
});

export const ipFilterSchema = z
  .strictObject({
    type: z.literal("ip-filter"),
    allow: z
      .array(cidr)
      .optional()
      .meta({ description: "CIDRs or addresses (IPv4, IPv6, IPv4-mapped IPv6) allowed; when set, every other client is refused." }),
    deny: z.array(cidr).optional().meta({ description: "CIDRs or addresses refused; deny wins over allow." }),
    status: z.number().int().min(400).max(599).default(403).meta({ description: "Status of the refusal (default 403)." }),
    message: z.string().default("Forbidden\n").meta({ description: "Body of the refusal (text/plain)." }),
  })
  .refine((c) => c.allow !== undefined || c.deny !== undefined, { message: "ip-filter needs allow and/or deny (a list of CIDRs)" })
  .meta({ description: "Allow or refuse requests by the client's IP (after trusted proxies), with CIDR lists; deny wins." });
