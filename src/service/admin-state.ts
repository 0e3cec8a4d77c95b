/**
 * Admin states of a backend (set through the admin API, not per request): drain
 * and maintenance take it out of rotation for new requests, each in its own way,
 * and in-flight requests finish. The state lives on the backend in the registry,
 * so a reload that keeps the backend keeps it.
 */
import { type AdminState, DownReason, type ServiceBackend, setDown } from "./service.js";

/**
 * Put a backend in an admin state. Both are DownReasons, so every balancer passes
 * the backend over at no extra cost per request:
 * - "maintenance": out of rotation entirely, sticky sessions and hash keys included;
 * - "drain": out of rotation, but clients pinned to it by a sticky cookie or a
 *   consistent-hash key keep it (`drained` is set while nothing else keeps it out);
 * - "active": back in rotation, through slow start when the service has one.
 */
export function setAdminState(backend: ServiceBackend, state: AdminState): void {
  backend.adminState = state;
  setDown(backend, DownReason.Drain, state === "drain");
  setDown(backend, DownReason.Maintenance, state === "maintenance");
}
