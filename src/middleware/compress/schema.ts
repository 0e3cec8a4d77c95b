import zlib from "node:zlib";
import { z } from "zod";
import { positiveInt, size } from "../../config/schema-scalars.js";

/** Whether this Node's zlib has zstd (Node 22.15+ / 23.8+). */
export const ZSTD_AVAILABLE = typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === "function";

/** Content types compressed by default: text and the structured formats that shrink well. */
export const DEFAULT_CONTENT_TYPES = [
  "text/*",
  "application/json",
  "application/*+json",
  "application/javascript",
  "application/ecmascript",
  "application/xml",
  "application/*+xml",
  "application/x-ndjson",
  "application/graphql-response+json",
  "application/wasm",
  "application/manifest+json",
  "image/svg+xml",
  "image/x-icon",
  "font/ttf",
  "font/otf",
];

const mediaRange = z
  .string()
  .regex(/^[a-z0-9!#$&^_.+-]+\/(\*|\*\+[a-z0-9!#$&^_.+-]+|[a-z0-9!#$&^_.+-]+)$/i, {
    message: 'expected a media type like "application/json", "text/*" or "application/*+json"',
  });

/** `type: compress` — gzip/brotli/zstd response compression negotiated from Accept-Encoding; optional request decompression. */
export const compressSchema = z
  .strictObject({
    type: z.literal("compress"),
    encodings: z
      .array(z.enum(["br", "gzip", "zstd"]))
      .min(1)
      .default(["br", "gzip"])
      .refine((list) => new Set(list).size === list.length, { message: "each encoding may be listed once" })
      .superRefine((list, ctx) => {
        if (list.includes("zstd") && !ZSTD_AVAILABLE) {
          ctx.addIssue({
            code: "custom",
            message: `zstd needs Node 22.15 or newer (node:zlib of this Node ${process.version} has no zstd); remove it or upgrade Node`,
          });
        }
      })
      .meta({
        description:
          "Encodings offered, in the server's order of preference: among those the client accepts with the highest q-value, the first listed wins. zstd needs Node 22.15+.",
      }),
    gzip: z
      .strictObject({
        level: z.number().int().min(1).max(9).default(5).meta({ description: "zlib level, 1 (fastest) to 9 (smallest)." }),
      })
      .prefault({})
      .meta({ description: "gzip settings." }),
    br: z
      .strictObject({
        quality: z.number().int().min(0).max(11).default(4).meta({ description: "Brotli quality, 0 (fastest) to 11 (smallest; far too slow for streaming)." }),
        window: z.number().int().min(10).max(24).default(18).meta({ description: "Brotli window, log2 bytes (10..24); larger finds more repeats, costs more memory per response." }),
      })
      .prefault({})
      .meta({ description: "Brotli settings." }),
    zstd: z
      .strictObject({
        level: z.number().int().min(1).max(19).default(3).meta({ description: "zstd level, 1 to 19." }),
      })
      .prefault({})
      .meta({ description: "zstd settings (Node 22.15+)." }),
    minSize: size
      .default(1024)
      .meta({
        description:
          "Responses whose Content-Length is below this (e.g. 1KiB) are sent as they are; responses of unknown length (chunked, streamed) are always compressed.",
      }),
    contentTypes: z
      .array(mediaRange)
      .min(1)
      .default(DEFAULT_CONTENT_TYPES)
      .meta({
        description:
          'Media types compressed (parameters ignored, case-insensitive); "text/*" matches a whole type, "application/*+json" a suffix. A response without Content-Type is never compressed.',
      }),
    request: z
      .strictObject({
        decompress: z
          .boolean()
          .default(false)
          .meta({
            description:
              "Decompress request bodies sent with Content-Encoding gzip, br or deflate (zstd too where Node has it) before the backend gets them; another encoding is answered 415.",
          }),
        maxSize: size.default(10 * 1024 * 1024).meta({ description: "Most bytes a request body may inflate to (e.g. 10MiB); beyond it the request is answered 413." }),
        maxRatio: positiveInt
          .default(100)
          .meta({
            description:
              "Most a request body may grow by decompression (decompressed bytes / compressed bytes), checked once it is past 64 KiB decompressed; beyond it the request is answered 413 (a zip bomb).",
          }),
      })
      .prefault({})
      .meta({ description: "Request bodies: decompression (off by default) and its limits." }),
  })
  .meta({
    description:
      "Response compression (gzip, brotli, zstd) negotiated from Accept-Encoding, streamed chunk by chunk, by content type and size; optional request decompression with zip-bomb limits.",
  });
