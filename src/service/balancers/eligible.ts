// Hot path: which backends a balancer may choose.
import type { BackendState } from "./types.js";

/** A backend may take new work when it is available, has a weight, and is not drained. */
export function isEligible(backend: BackendState): boolean {
  return backend.available && backend.weight > 0 && !backend.drained;
}

/** A backend may keep the clients pinned to it (sticky cookie, hash key): available, even if drained. */
export function keepsPinned(backend: BackendState): boolean {
  return backend.available && backend.weight > 0;
}

/**
 * What to return when every eligible backend was skipped for being `exclude`: the
 * excluded backend itself if it is still eligible (a retry on the same backend beats
 * no backend), otherwise undefined.
 */
export function lastResort(exclude: BackendState | undefined): BackendState | undefined {
  return exclude !== undefined && isEligible(exclude) ? exclude : undefined;
}
