/**
 * Admin states of a backend (set through the admin API, not per request): drain
 * and maintenance take it out of rotation for new requests, each in its own way,
 * and in-flight requests finish. The state lives on the backend in the registry,
 * so a reload that keeps the backend keeps it.
 */
import { type AdminState, DownReason, type ServiceBackend, setDown, startRamp } from "./service.js";

/**
 * Put a backend in an admin state:
 * - "maintenance": out of rotation entirely (a DownReason, so every balancer and
 *   sticky sessions pass it over);
 * - "drain": balancers pass it over, but clients pinned to it by a sticky cookie or
 *   a consistent-hash key keep it;
 * - "active": back in rotation, through slow start when the service has one.
 */
export function setAdminState(backend: ServiceBackend, state: AdminState): void {
  if (backend.adminState === state) return;
  const wasDrained = backend.drained;
  backend.adminState = state;
  backend.drained = state === "drain";
  // setDown starts the ramp when maintenance ends and nothing else keeps it out.
  setDown(backend, DownReason.Maintenance, state === "maintenance");
  if (wasDrained && state === "active" && backend.available) startRamp(backend, performance.now());
}
