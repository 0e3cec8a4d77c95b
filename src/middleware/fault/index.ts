import type { z } from "zod";
import type { DirectResponse, Exchange } from "../plugin.js";
import { definePlugin } from "../plugin.js";
import { Share } from "../share.js";
import type { faultMiddlewareSchema } from "./schema.js";

type Options = z.output<typeof faultMiddlewareSchema>;

/**
 * `type: fault` — chaos testing: delay (fixed or a random range) and abort (a
 * status answer or a connection reset) a share of the requests, optionally only
 * those that carry a header.
 *
 * @example
 * middlewares:
 *   chaos:
 *     type: fault
 *     match: { header: x-chaos, value: "on" }
 *     delay: { percentage: 10, min: 100ms, max: 2s }
 *     abort: { percentage: 5, status: 503 }
 */
export const faultPlugin = definePlugin<Options>({
  name: "fault",
  create({ delay, abort, match }, { metrics }) {
    const injected = metrics.counter("divisor_fault_injected", "Faults injected by fault middlewares, by kind (delay, abort, reset).", ["kind"]);
    const delayed = injected.labels("delay");
    const aborted = injected.labels(abort?.reset === true ? "reset" : "abort");
    const header = match === undefined ? null : match.header.toLowerCase();
    const value = match?.value;
    const delayShare = delay === undefined ? null : new Share(delay.percentage);
    const fixed = delay?.fixed ?? 0;
    const min = delay?.min ?? 0;
    const spread = delay?.max === undefined ? 0 : delay.max - min;
    const abortShare = abort === undefined ? null : new Share(abort.percentage);
    const reset = abort?.reset === true;
    const status = abort?.status ?? 0;
    const body = abort?.body ?? "";

    const answer = (ex: Exchange): DirectResponse | undefined => {
      if (abortShare === null || !abortShare.take()) return undefined;
      aborted.inc();
      return reset ? ex.resetConnection() : ex.respond(status, body, { "content-type": "text/plain; charset=utf-8" });
    };

    return {
      onRequest(ex) {
        if (header !== null) {
          const v = ex.request.headers.get(header);
          if (v === undefined || (value !== undefined && v !== value)) return undefined;
        }
        if (delayShare === null || !delayShare.take()) return answer(ex);
        delayed.inc();
        const ms = spread === 0 ? fixed || min : min + Math.random() * spread;
        return new Promise<DirectResponse | undefined>((resolve) => {
          const signal = ex.signal;
          const timer = setTimeout(() => {
            signal.removeEventListener("abort", stop);
            resolve(answer(ex));
          }, ms);
          // The client left (or the exchange ended): stop waiting; the exchange ignores the result.
          const stop = (): void => {
            clearTimeout(timer);
            resolve(undefined);
          };
          signal.addEventListener("abort", stop, { once: true });
        });
      },
    };
  },
});
