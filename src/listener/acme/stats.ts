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
  // Every result starts at 0, so a scrape shows the series before the first failure and increase() sees it.
  return { orders: new Map(ORDER_RESULTS.map((r) => [r, 0])), renewals: 0, onDemandRefusals: new Map() };
}

/** The results of divisor_acme_orders_total. */
const ORDER_RESULTS = ["issued", "failed", "rate-limited"] as const;

export function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
