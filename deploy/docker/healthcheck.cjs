"use strict";
// The image's HEALTHCHECK: GET the admin API's /readyz (public, no token), exit 0 on
// 200 and 1 otherwise. The slim Node image has no curl; Node's fetch does the job.
// DIVISOR_ADMIN_PORT is the same variable the image's divisor.yaml binds the admin
// API to; DIVISOR_HEALTHCHECK_URL overrides the whole URL (another config, TLS...).
const url = process.env.DIVISOR_HEALTHCHECK_URL || `http://127.0.0.1:${process.env.DIVISOR_ADMIN_PORT || "9901"}/readyz`;
fetch(url, { signal: AbortSignal.timeout(2500) }).then(
  (res) => {
    process.stdout.write(`${url}: ${res.status}\n`);
    process.exit(res.status === 200 ? 0 : 1);
  },
  (err) => {
    process.stdout.write(`${url}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
