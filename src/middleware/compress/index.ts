// Hot path (routers with a compress middleware): which responses are compressed, with what.
import type { z } from "zod";
import { decimalLength, type HeaderList } from "../../http1/headers.js";
import type { MetricCell } from "../../observability/metrics/plugin-metrics.js";
import type { BodyFilter, Exchange, ResponseHeadView, UpstreamRequestHead } from "../plugin.js";
import { definePlugin } from "../plugin.js";
import { MediaTypes } from "./content-type.js";
import { type ByteCounters, CompressFilter, DecompressFilter, type EncoderSpec, encoderSpec, openDecoder, UnsupportedEncodingFilter } from "./filters.js";
import { IDENTITY, negotiate } from "./negotiate.js";
import type { compressSchema } from "./schema.js";
import { parseCacheControl } from "../cache/policy.js";

type Options = z.output<typeof compressSchema>;

/** Adds Accept-Encoding to Vary (RFC 9110 §12.5.5), merged into one field; `Vary: *` already covers it. */
export function addVaryAcceptEncoding(headers: HeaderList): void {
  const values = headers.getAll("vary");
  if (values.length === 0) {
    headers.set("Vary", "Accept-Encoding");
    return;
  }
  const joined = values.join(", ");
  for (const part of joined.split(",")) {
    const name = part.trim().toLowerCase();
    if (name === "*" || name === "accept-encoding") {
      if (values.length > 1) headers.set("Vary", joined);
      return;
    }
  }
  headers.set("Vary", `${joined}, Accept-Encoding`);
}

/** Whether a Cache-Control value list carries no-transform (RFC 9111 §5.2.2.6: intermediaries must not change the content). */
function noTransform(headers: HeaderList): boolean {
  return parseCacheControl(headers.getAll("cache-control")).has("no-transform");
}

/**
 * `type: compress` — compresses response bodies with gzip, brotli or zstd as they
 * stream, the encoding negotiated from the client's Accept-Encoding (q-values, then
 * the configured order), for the configured content types and sizes; and, when
 * `request.decompress` is on, decompresses request bodies within size and ratio
 * limits before the backend gets them.
 *
 * @example
 * middlewares:
 *   squeeze:
 *     type: compress
 *     encodings: [br, gzip]
 *     minSize: 1KiB
 *     request: { decompress: true, maxSize: 8MiB }
 */
export const compressPlugin = definePlugin<Options>({
  name: "compress",
  create(options, { metrics }) {
    const responses = metrics.counter("divisor_compression_responses", "Responses a compress middleware compressed, by encoding.", ["encoding"]);
    const inBytes = metrics.counter("divisor_compression_input_bytes", "Response body bytes a compress middleware compressed (before), by encoding.", ["encoding"]);
    const outBytes = metrics.counter("divisor_compression_output_bytes", "Compressed response body bytes a compress middleware sent (after), by encoding.", ["encoding"]);
    const skipped = metrics.counter("divisor_compression_skipped", "Responses a compress middleware sent as they were, by reason.", ["reason"]);
    const skipType = skipped.labels("content_type");
    const skipEncoded = skipped.labels("already_encoded");
    const skipRange = skipped.labels("range");
    const skipNoTransform = skipped.labels("no_transform");
    const skipSmall = skipped.labels("small");
    const skipNotAccepted = skipped.labels("not_accepted");

    const offered: string[] = options.encodings;
    const specs: EncoderSpec[] = offered.map((e) =>
      encoderSpec(e as EncoderSpec["encoding"], e === "gzip" ? options.gzip.level : e === "br" ? options.br.quality : options.zstd.level, options.br.window),
    );
    const count: MetricCell[] = offered.map((e) => responses.labels(e));
    const bytes: ByteCounters[] = offered.map((e) => ({ input: inBytes.labels(e), output: outBytes.labels(e) }));
    const types = new MediaTypes(options.contentTypes);
    const minSize = options.minSize;
    // Browsers send the same Accept-Encoding on every request: remember the last answer.
    let lastAccept: string | undefined;
    let lastChoice = IDENTITY;

    const onResponseBody = (ex: Exchange, head: ResponseHeadView): BodyFilter | undefined => {
      const headers = head.headers;
      if (head.status === 206 || headers.has("content-range")) {
        skipRange.inc();
        return undefined;
      }
      if (!types.matches(headers.get("content-type"))) {
        skipType.inc();
        return undefined;
      }
      const encoded = headers.get("content-encoding");
      if (encoded !== undefined && encoded.trim().toLowerCase() !== "identity") {
        skipEncoded.inc();
        return undefined;
      }
      if (noTransform(headers)) {
        skipNoTransform.inc();
        return undefined;
      }
      // From here the representation depends on Accept-Encoding, whatever this client gets.
      addVaryAcceptEncoding(headers);
      const declared = headers.get("content-length");
      const length = declared === undefined ? -1 : decimalLength(declared);
      if (length >= 0 && length < minSize) {
        skipSmall.inc();
        return undefined;
      }
      const accept = ex.request.headers.get("accept-encoding");
      let choice: number;
      if (accept === lastAccept) choice = lastChoice;
      else {
        choice = negotiate(accept, offered);
        lastAccept = accept;
        lastChoice = choice;
      }
      if (choice === IDENTITY) {
        skipNotAccepted.inc();
        return undefined;
      }
      const spec = specs[choice]!;
      headers.set("Content-Encoding", spec.encoding);
      headers.delete("content-length");
      // The compressed bytes are not the ones a range would count.
      headers.delete("accept-ranges");
      const etag = headers.get("etag");
      // A strong validator promises the exact bytes; ours differ from the backend's (RFC 9110 §8.8.1).
      if (etag !== undefined && etag.charCodeAt(0) === 34 /* " */) headers.set("ETag", `W/${etag}`);
      count[choice]!.inc();
      return new CompressFilter(spec, bytes[choice]!);
    };

    if (!options.request.decompress) return { onResponseBody };

    const limits = { maxSize: options.request.maxSize, maxRatio: options.request.maxRatio };
    const decompressed = metrics.counter("divisor_decompression_requests", "Request bodies a compress middleware decompressed, by encoding.", ["encoding"]);
    const dInBytes = metrics.counter("divisor_decompression_input_bytes", "Compressed request body bytes a compress middleware received.").labels();
    const dOutBytes = metrics.counter("divisor_decompression_output_bytes", "Decompressed request body bytes a compress middleware sent to the backend.").labels();
    const refused = metrics.counter("divisor_decompression_refused", "Request bodies a compress middleware refused, by reason.", ["reason"]);
    const refusals = { tooLarge: refused.labels("too_large"), ratio: refused.labels("ratio"), corrupt: refused.labels("corrupt") };
    const unsupported = refused.labels("unsupported");
    const dBytes: ByteCounters = { input: dInBytes, output: dOutBytes };
    const byEncoding = new Map<string, MetricCell>();

    const onRequestBody = (_ex: Exchange, head: UpstreamRequestHead): BodyFilter | undefined => {
      const value = head.headers.get("content-encoding");
      if (value === undefined) return undefined;
      const encoding = value.trim().toLowerCase();
      if (encoding === "identity") {
        head.headers.delete("content-encoding");
        return undefined;
      }
      const stream = openDecoder(encoding);
      if (stream === undefined) {
        unsupported.inc();
        return new UnsupportedEncodingFilter(encoding);
      }
      let cell = byEncoding.get(encoding);
      if (cell === undefined) {
        cell = decompressed.labels(encoding);
        byEncoding.set(encoding, cell);
      }
      cell.inc();
      head.headers.delete("content-encoding");
      head.headers.delete("content-length");
      return new DecompressFilter(stream, limits, dBytes, refusals);
    };
    return { onResponseBody, onRequestBody };
  },
});
