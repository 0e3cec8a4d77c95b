// Hot path: which backends a balancer may choose.
import type { BackendState } from "./types.js";

/** A backend may take new work when it is available (not drained either) and has a weight. */
export function isEligible(backend: BackendState): boolean {
  return backend.available && backend.weight > 0;
}

/** A backend may keep the clients pinned to it (a consistent-hash key it owns): available, or only drained. */
export function keepsPinned(backend: BackendState): boolean {
  return (backend.available || backend.drained) && backend.weight > 0;
}

/**
 * What to return when every eligible backend was skipped for being `exclude`: the
 * excluded backend itself if it is still eligible (a retry on the same backend beats
 * no backend), otherwise undefined.
 */
export function lastResort(exclude: BackendState | undefined): BackendState | undefined {
  return exclude !== undefined && isEligible(exclude) ? exclude : undefined;
}
