/** HTTP/2 settings of a listener (`listeners[].http2`): what is offered and the limits against abusive clients. */
import { z } from "zod";
import { duration, nonNegativeInt, positiveInt, size } from "./schema-scalars.js";

export const listenerHttp2Schema = z
  .strictObject({
    enabled: z.boolean().default(true).meta({ description: "Offer HTTP/2: by ALPN (h2) on an HTTPS listener; on a plain listener only with cleartext." }),
    cleartext: z
      .boolean()
      .default(false)
      .meta({ description: "Plain-HTTP listeners: also take HTTP/2 with prior knowledge (h2c, the client starts with the HTTP/2 preface); HTTP/1.1 clients are served as before. No h2c Upgrade dance." }),
    maxConcurrentStreams: positiveInt.default(100).meta({ description: "Most streams a client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused." }),
    maxHeaderListSize: positiveInt.default(64 * 1024).meta({ description: "Largest header list (decoded names and values plus 32 bytes per field) a client may send; a larger one resets its stream. limits.maxHeadSize also bounds the request head." }),
    initialWindowSize: positiveInt
      .max(2 ** 31 - 1)
      .default(65_535)
      .meta({ description: "Flow-control window of each stream for request bodies (SETTINGS_INITIAL_WINDOW_SIZE), in bytes." }),
    maxSessionMemory: size.default(10 * 1024 * 1024).meta({ description: "Memory one connection may hold in node:http2 (header tables, buffered frames) before new streams are refused." }),
    maxResetsPerSecond: positiveInt
      .default(100)
      .meta({ description: "Rapid-reset guard (CVE-2023-44487): streams a client may reset (RST_STREAM) in one second; more close its connection with GOAWAY ENHANCE_YOUR_CALM." }),
    maxSettingsPerSecond: positiveInt.default(10).meta({ description: "SETTINGS frames a client may send in one second; more close its connection with GOAWAY ENHANCE_YOUR_CALM." }),
    maxPingsPerSecond: positiveInt.default(10).meta({ description: "PING frames a client may send in one second; more close its connection with GOAWAY ENHANCE_YOUR_CALM." }),
    maxInvalidFrames: nonNegativeInt.default(100).meta({ description: "Invalid frames a client may send on one connection before it is closed." }),
    maxRejectedStreams: nonNegativeInt.default(100).meta({ description: "Streams refused on one connection (over maxConcurrentStreams, out of memory) before it is closed." }),
    idleTimeout: duration.default(120_000).meta({ description: "A connection with no frames either way for this long is closed with GOAWAY; 0 = never." }),
  })
  .meta({
    description:
      "HTTP/2 on this listener (through node:http2): every stream is served by the same routers, middlewares and services as an HTTP/1.1 request. {} turns it on with the defaults.",
  });

/** The parsed `listeners[].http2`. */
export type ListenerHttp2Config = z.output<typeof listenerHttp2Schema>;
