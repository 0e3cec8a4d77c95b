import { createHash, type Hash } from "node:crypto";
import type { z } from "zod";
import type { DivisorError } from "../../errors.js";
import type { BodyFilter, BodySink, Exchange, ResponseHeadView, UpstreamRequestHead } from "../plugin.js";
import { definePlugin } from "../plugin.js";
import { Share } from "../share.js";
import type { UpstreamClientResponse } from "../upstream-client.js";
import type { mirrorSchema } from "./schema.js";

type Options = z.output<typeof mirrorSchema>;

const IN_FLIGHT = Symbol("mirror in flight");

/** What one exchange's copy needs, kept in the exchange's locals from the request phase to onLog. */
interface Copy {
  readonly method: string;
  readonly target: string;
  readonly headers: [string, string][];
  /** The copy waits for the request body (it streams through the tap of onRequestBody). */
  awaitingBody: boolean;
  /** Body chunks kept so far; null once the body went over the bound. */
  chunks: Buffer[] | null;
  size: number;
  // The compare: the primary's side (from its response phases), then the shadow's.
  primaryStatus: number;
  primaryHeaders: (string | undefined)[] | null;
  primaryHash: Hash | null;
  primaryBytes: number;
  primaryDone: boolean;
  shadow: UpstreamClientResponse | null;
  /** The shadow's side is over: answered (shadow set) or failed (shadow null). */
  shadowDone: boolean;
}

/**
 * `type: mirror` — copies a share of a router's requests to a shadow service and
 * discards its answers; the copy is sent after the primary's request phases (so the
 * shadow gets the head the primary gets) and never waits on, or delays, the primary.
 * With `compare`, each shadow response is checked against the primary's (status,
 * chosen headers, body digest) and every difference is counted and logged.
 *
 * @example
 * middlewares:
 *   shadow-v2:
 *     type: mirror
 *     service: api-v2
 *     percentage: 10
 *     compare: { headers: [content-type] }
 */
export const mirrorPlugin = definePlugin<Options>({
  name: "mirror",
  create(options, { name, metrics, upstream, log, state }) {
    const requests = metrics.counter("divisor_mirror_requests", "Copies of requests by a mirror middleware, by outcome (answered, failed, dropped).", ["outcome"]);
    const answered = requests.labels("answered");
    const failed = requests.labels("failed");
    const droppedAll = requests.labels("dropped");
    const dropped = metrics.counter("divisor_mirror_dropped", "Requests a mirror middleware chose but did not copy, by reason.", ["reason"]);
    const inFlightFull = dropped.labels("in_flight_full");
    const bodyTooLarge = dropped.labels("body_too_large");
    const bodyIncomplete = dropped.labels("body_incomplete");
    const inFlightGauge = metrics.gauge("divisor_mirror_in_flight", "Copies of a mirror middleware waiting for the shadow service.").labels();
    const compared = metrics.counter("divisor_mirror_compared", "Shadow responses a mirror middleware compared with the primary's, by result (same, different).", ["result"]);
    const same = compared.labels("same");
    const different = compared.labels("different");
    const differences = metrics.counter("divisor_mirror_differences", "Differences a mirror middleware found between shadow and primary responses, by field.", ["field"]);
    const statusDiffers = differences.labels("status");
    const headerDiffers = differences.labels("header");
    const bodyDiffers = differences.labels("body");

    const key = Symbol(`mirror:${name}`);
    const share = new Share(options.percentage);
    const methods = options.methods === undefined ? null : new Set(options.methods);
    const matchHeader = options.match === undefined ? null : options.match.header.toLowerCase();
    const matchValue = options.match?.value;
    const markName = options.header.name;
    const markValue = options.header.value ?? name;
    const keepHost = options.host === "request";
    const compare = options.compare;
    const compareHeaders = compare === undefined ? [] : compare.headers.map((h) => h.toLowerCase());
    const maxBody = options.maxBodySize;
    // Kept across reloads: copies sent under the previous configuration still count against the bound.
    let copies = state.get(IN_FLIGHT) as { n: number } | undefined;
    if (copies === undefined) {
      copies = { n: 0 };
      state.set(IN_FLIGHT, copies);
    }
    const inFlight = copies;

    const drop = (reason: { inc(): void }): void => {
      reason.inc();
      droppedAll.inc();
    };

    const send = (ex: Exchange, copy: Copy, body: Buffer | undefined): void => {
      if (inFlight.n >= options.maxInFlight) {
        copy.shadowDone = true;
        drop(inFlightFull);
        return;
      }
      inFlight.n++;
      inFlightGauge.set(inFlight.n);
      const id = ex.id;
      const router = ex.router;
      upstream
        .request(options.service, {
          method: copy.method,
          target: copy.target,
          headers: copy.headers,
          body,
          timeoutMs: options.timeout,
          maxResponseBytes: options.maxResponseSize,
        })
        .then(
          (res) => {
            answered.inc();
            if (compare !== undefined) copy.shadow = res;
          },
          (err: DivisorError) => {
            failed.inc();
            log.debug({ exchange: id, router, middleware: name, code: err.code, err: err.message }, "mirror: the shadow service did not answer a copy");
          },
        )
        .finally(() => {
          inFlight.n--;
          inFlightGauge.set(inFlight.n);
          copy.shadowDone = true;
          if (compare !== undefined && copy.primaryDone) compareResponses(id, router, copy);
        });
    };

    /** The request body never arrived whole (client gone, or the request refused before it was read). */
    const giveUp = (copy: Copy): void => {
      copy.awaitingBody = false;
      copy.chunks = null;
      copy.shadowDone = true;
      drop(bodyIncomplete);
    };

    const compareResponses = (id: number, router: string | undefined, copy: Copy): void => {
      const shadow = copy.shadow;
      // Nothing to compare when either side has no complete response.
      if (shadow === null || copy.primaryStatus === 0 || compare === undefined) return;
      const found: Record<string, unknown>[] = [];
      if (compare.status && shadow.status !== copy.primaryStatus) {
        statusDiffers.inc();
        found.push({ field: "status", primary: copy.primaryStatus, shadow: shadow.status });
      }
      for (let i = 0; i < compareHeaders.length; i++) {
        const header = compareHeaders[i]!;
        if (joined(shadow.headers, header) !== copy.primaryHeaders![i]) {
          headerDiffers.inc();
          found.push({ field: "header", name: header });
        }
      }
      // The primary's body is hashed by its body filter; without one (a HEAD request) there is none to compare.
      if (compare.body && copy.primaryHash !== null) {
        if (createHash("sha256").update(shadow.body).digest("hex") !== copy.primaryHash.digest("hex")) {
          bodyDiffers.inc();
          found.push({ field: "body", primaryBytes: copy.primaryBytes, shadowBytes: shadow.body.length });
        }
      }
      if (found.length === 0) {
        same.inc();
        return;
      }
      different.inc();
      log.info({ exchange: id, router, middleware: name, service: options.service, backend: shadow.backend, differences: found }, "mirror: the shadow's response differs from the primary's");
    };

    return {
      onUpstreamRequest(ex: Exchange, head: UpstreamRequestHead) {
        // Once per exchange: a retry's second head is not copied again.
        if (ex.locals.has(key)) return;
        if (methods !== null && !methods.has(head.method)) return;
        if (matchHeader !== null) {
          const v = ex.request.headers.get(matchHeader);
          if (v === undefined || (matchValue !== undefined && v !== matchValue)) return;
        }
        if (!share.take()) return;
        const length = head.headers.get("content-length");
        const chunked = head.headers.has("transfer-encoding");
        if (length !== undefined && Number(length) > maxBody) {
          drop(bodyTooLarge);
          return;
        }
        const copy: Copy = {
          method: head.method,
          target: head.target,
          headers: copyHeaders(head.headers.raw, keepHost, markName, markValue),
          awaitingBody: false,
          chunks: null,
          size: 0,
          primaryStatus: 0,
          primaryHeaders: null,
          primaryHash: null,
          primaryBytes: 0,
          primaryDone: false,
          shadow: null,
          shadowDone: false,
        };
        ex.locals.set(key, copy);
        if (chunked || (length !== undefined && length !== "0")) {
          copy.awaitingBody = true;
          copy.chunks = [];
        } else send(ex, copy, undefined);
      },

      onRequestBody(ex: Exchange): BodyFilter | undefined {
        const copy = ex.locals.get(key) as Copy | undefined;
        if (copy === undefined || !copy.awaitingBody) return undefined;
        return new BodyTap(copy, maxBody, (body) => {
          if (body === null) {
            copy.shadowDone = true;
            drop(bodyTooLarge);
          } else send(ex, copy, body);
        }, giveUp);
      },

      onResponse(ex: Exchange, head: ResponseHeadView) {
        if (compare === undefined) return;
        const copy = ex.locals.get(key) as Copy | undefined;
        if (copy === undefined) return;
        copy.primaryStatus = head.status;
        copy.primaryHeaders = compareHeaders.map((h) => {
          const all = head.headers.getAll(h);
          return all.length === 0 ? undefined : all.join(", ");
        });
      },

      onResponseBody(ex: Exchange): BodyFilter | undefined {
        if (compare === undefined || !compare.body) return undefined;
        const copy = ex.locals.get(key) as Copy | undefined;
        if (copy === undefined) return undefined;
        copy.primaryHash = createHash("sha256");
        return new BodyHash(copy);
      },

      onLog(ex: Exchange) {
        const copy = ex.locals.get(key) as Copy | undefined;
        if (copy === undefined) return;
        if (copy.awaitingBody) giveUp(copy);
        if (compare === undefined) return;
        // A primary that failed or was cut short has no response to compare.
        if (ex.errorCode !== undefined) copy.primaryStatus = 0;
        copy.primaryDone = true;
        if (copy.shadowDone) compareResponses(ex.id, ex.router, copy);
      },
    };
  },
});

/** Passes the request body on untouched and keeps a copy up to `max` bytes for the shadow. */
class BodyTap implements BodyFilter {
  constructor(
    private readonly copy: Copy,
    private readonly max: number,
    private readonly done: (body: Buffer | null) => void,
    private readonly giveUp: (copy: Copy) => void,
  ) {}

  write(chunk: Buffer, sink: BodySink): void {
    const copy = this.copy;
    if (copy.chunks !== null) {
      copy.size += chunk.length;
      if (copy.size > this.max) copy.chunks = null;
      // The sink may keep the chunk but never changes it: sharing it costs no copy.
      else copy.chunks.push(chunk);
    }
    sink.write(chunk);
  }

  end(sink: BodySink): void {
    sink.end();
    const copy = this.copy;
    if (!copy.awaitingBody) return;
    copy.awaitingBody = false;
    const chunks = copy.chunks;
    copy.chunks = null;
    this.done(chunks === null ? null : Buffer.concat(chunks, copy.size));
  }

  destroy(): void {
    if (this.copy.awaitingBody) this.giveUp(this.copy);
  }
}

/** Passes the primary's response body on untouched and hashes it for the compare. */
class BodyHash implements BodyFilter {
  constructor(private readonly copy: Copy) {}

  write(chunk: Buffer, sink: BodySink): void {
    this.copy.primaryHash!.update(chunk);
    this.copy.primaryBytes += chunk.length;
    sink.write(chunk);
  }

  end(sink: BodySink): void {
    sink.end();
  }
}

/** The head's flat header list for the copy: Host kept or left to the client, the mirror mark added. */
function copyHeaders(raw: readonly string[], keepHost: boolean, markName: string, markValue: string): [string, string][] {
  const out: [string, string][] = [];
  const mark = markName.toLowerCase();
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    // The copy goes with its whole body at once: nothing to wait a 100 Continue for.
    if ((!keepHost && lower === "host") || lower === mark || lower === "expect") continue;
    out.push([raw[i]!, raw[i + 1]!]);
  }
  out.push([markName, markValue]);
  return out;
}

/** Every value of a header in a response's pairs, joined as one field value (RFC 9110 §5.3). */
function joined(headers: readonly [string, string][], name: string): string | undefined {
  let value: string | undefined;
  for (const [k, v] of headers) if (k === name) value = value === undefined ? v : `${value}, ${v}`;
  return value;
}
