// What ACME does, counted per listener (kept by the gateway's AcmeRegistry across reloads).

export interface AcmeStats {
  /** Orders finished, by result: issued, failed, rate-limited. */
  orders: Map<string, number>;
  /** Certificates renewed (issued again before expiry). */
  renewals: number;
  /** On-demand handshakes that ordered nothing, by reason: not-allowed, ask-refused, rate-limited, backoff. */
  onDemandRefusals: Map<string, number>;
}

export function newAcmeStats(): AcmeStats {
  return { orders: new Map(), renewals: 0, onDemandRefusals: new Map() };
}

export function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
