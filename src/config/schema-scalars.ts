/** Scalar types shared by every part of the schema: durations, addresses, sizes. */
import { z } from "zod";

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration: a number of milliseconds, or a string like "250ms", "10s", "1.5m", "2h". */
export const duration = z
  .union([
    z.number().nonnegative(),
    z.string().regex(DURATION_RE, { message: 'expected a duration like "250ms", "10s", "1m" or a number of milliseconds' }),
  ])
  .transform((v) => {
    if (typeof v === "number") return v;
    const m = DURATION_RE.exec(v)!;
    return Math.round(Number(m[1]) * DURATION_UNIT_MS[m[2]!]!);
  })
  .meta({ description: 'Milliseconds, or a string with a unit: "250ms", "10s", "1m", "2h".' });

const HOST_PORT_RE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+|\*):(\d{1,5})$/;

/** `host:port` (IPv6 in brackets). */
export const address = z
  .string()
  .regex(HOST_PORT_RE, { message: 'expected "host:port", e.g. "127.0.0.1:8080" or "[::1]:8080"' })
  // zod runs refinements even after the regex failed, so a non-matching value must pass here.
  .refine((v) => {
    const m = HOST_PORT_RE.exec(v);
    return m === null || Number(m[2]) <= 65535;
  }, { message: "port must be 0..65535" });

/** HTTP header field name (RFC 9110 token). */
export const headerName = z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, { message: "expected an HTTP header name (token characters only)" });

export const positiveInt = z.number().int().positive();

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)$/;
const SIZE_UNIT: Record<string, number> = { B: 1, KB: 1000, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3 };

/** A size in bytes: a number, or a string like "512KiB", "10MB", "1GiB". */
export const size = z
  .union([
    z.number().int().nonnegative(),
    z.string().regex(SIZE_RE, { message: 'expected a size like "512KiB", "10MB", "1GiB" or a number of bytes' }),
  ])
  .transform((v) => {
    if (typeof v === "number") return v;
    const m = SIZE_RE.exec(v)!;
    return Math.round(Number(m[1]) * SIZE_UNIT[m[2]!]!);
  })
  .meta({ description: 'Bytes, or a string with a unit: "512KiB", "10MB", "1GiB".' });
export const nonNegativeInt = z.number().int().nonnegative();

/** A name of a router, service, middleware, tenant or provider. */
export const nameKey = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { message: "names are letters, digits, '_', '.', '-'" });
