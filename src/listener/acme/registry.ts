// The gateway's ACME managers (one per HTTPS listener with acme), as the plain-HTTP
// listeners see them: HTTP-01 answers come from any manager's storage, so any
// instance sharing the storage answers a validation of another instance's order.
import type tls from "node:tls";
import { ACME_CHALLENGE_PREFIX } from "../../exchange/responses.js";
import type { AcmeChallengeResponder } from "../../exchange/types.js";
import type { AcmeManager } from "./manager.js";
import { type AcmeStats, bump, newAcmeStats } from "./stats.js";

const TOKEN_RE = /^[A-Za-z0-9_-]{1,256}$/;

export class AcmeRegistry implements AcmeChallengeResponder {
  readonly managers = new Set<AcmeManager>();
  /** Validation requests answered, by challenge type. */
  readonly challengeResponses = new Map<string, number>();
  /** Counters by listener name. */
  readonly listenerStats = new Map<string, AcmeStats>();

  /** A listener's counters, kept across reloads (and listener replacements) by its name. */
  statsFor(listener: string): AcmeStats {
    let s = this.listenerStats.get(listener);
    if (s === undefined) {
      s = newAcmeStats();
      this.listenerStats.set(listener, s);
    }
    return s;
  }

  get active(): boolean {
    return this.managers.size > 0;
  }

  /** The key authorization for an HTTP-01 request path, or null (a 404). */
  async http01(path: string): Promise<string | null> {
    const token = path.slice(ACME_CHALLENGE_PREFIX.length);
    if (!TOKEN_RE.test(token)) return null;
    for (const m of this.managers) {
      const answer = await m.http01(token);
      if (answer !== null) {
        bump(this.challengeResponses, "http-01");
        return answer;
      }
    }
    return null;
  }

  /** The RFC 8737 challenge certificate's context for a tls-alpn-01 validation of `name`, or null. */
  async tlsAlpn01(name: string, preferred: AcmeManager | null): Promise<tls.SecureContext | null> {
    const order = preferred === null ? [...this.managers] : [preferred, ...[...this.managers].filter((m) => m !== preferred)];
    for (const m of order) {
      const context = await m.tlsAlpn01(name);
      if (context !== null) {
        bump(this.challengeResponses, "tls-alpn-01");
        return context;
      }
    }
    return null;
  }
}
