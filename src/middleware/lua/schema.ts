import { z } from "zod";
import { duration, positiveInt, size } from "../../config/schema-scalars.js";

/** `type: lua` — a sandboxed Lua 5.4 script run at the plugin phases (docs/scripting.md). */
export const luaSchema = z
  .strictObject({
    type: z.literal("lua"),
    source: z.string().min(1).optional().meta({ description: "The script, inline. Give either source or file." }),
    file: z.string().min(1).optional().meta({ description: "Path of a .lua file holding the script (relative to the working directory, like certificate files); re-read on every reload." }),
    vars: z
      .record(
        z.string().min(1),
        z
          .union([
            z.string().meta({ description: "A string." }),
            z.number().meta({ description: "A number, read by the script as its decimal string." }),
            z.boolean().meta({ description: 'true or false, read as "true" or "false".' }),
          ])
          .transform(String),
      )
      .default({})
      .meta({ description: "Values the script reads as vars.<name> (strings; numbers and booleans are turned into strings)." }),
    services: z
      .array(z.string().min(1))
      .default([])
      .meta({ description: "Services route.use_service() may send a request to (canary, blue/green, A/B); a script can reach no other." }),
    limits: z
      .strictObject({
        timeout: duration.default(20).meta({ description: "Wall-clock budget of one phase call; a call over it is stopped (500 for the request). Lua runs on the event loop: this is also the longest a call can hold other requests up." }),
        instructions: positiveInt.default(1_000_000).meta({ description: "Lua VM instructions one phase call may run (checked every 1000); a call over it is stopped like a timeout." }),
        memory: size.default(8 * 1024 * 1024).meta({ description: "Memory one Lua state may hold beyond its libraries; an allocation over it fails (500 for the request) and the state is replaced." }),
        size: size.default(64 * 1024).meta({ description: "Largest script accepted, in bytes." }),
      })
      .prefault({})
      .meta({ description: "What one script may use." }),
    kv: z
      .strictObject({
        maxKeys: positiveInt.default(1000).meta({ description: "Most keys in the script's shared key/value store; kv.set of a new key beyond it fails." }),
        maxValueSize: positiveInt.default(4096).meta({ description: "Longest key or value in bytes." }),
      })
      .prefault({})
      .meta({ description: "The key/value store the script's states share (kept across reloads that keep the middleware)." }),
    pool: positiveInt.default(2).meta({ description: "Lua states kept loaded: one serves, the others stand by to replace one stopped by a limit, so no request waits for a state to start." }),
    quarantine: z
      .strictObject({
        after: positiveInt.default(3).meta({ description: "Consecutive calls stopped by a limit (time, instructions, memory) after which the script is taken out of service." }),
        duration: duration.default(30_000).meta({ description: "How long a quarantined script stays out: its requests get 503 at once, without running it; then one call is tried again." }),
      })
      .prefault({})
      .meta({ description: "Takes a script that keeps hitting its limits out of service, so a looping script cannot hold the event loop (and other tenants) for its whole budget on every request." }),
  })
  .refine((l) => (l.source === undefined) !== (l.file === undefined), { message: "give either source (the script inline) or file (a .lua path)" })
  .meta({ description: "A sandboxed Lua 5.4 script (wasmoon) run at the plugin phases: rewrite headers, paths and statuses, pick a service or backends, answer directly." });
