/**
 * Merging providers' fragments into the file's configuration: the file's names win
 * and are never overridden; a fragment whose names collide with the file's or an
 * earlier provider's is refused as a whole. Pure data in, data out: the manager
 * validates the result.
 */
import type { DivisorConfig } from "../config/schema.js";
import { DivisorError } from "../errors.js";
import type { ConfigFragment } from "./types.js";

/** A fragment refused before validation: its names collide, or its backends have no service to go to. */
export class ProviderFragmentError extends DivisorError {
  constructor(message: string) {
    super("ERR_PROVIDER_FRAGMENT", message);
  }
}

const KINDS = [
  ["routers", "router"],
  ["services", "service"],
  ["middlewares", "middleware"],
  ["tenants", "tenant"],
] as const;

type Kind = (typeof KINDS)[number][0];

/** A configuration being merged: top-level maps copied, entries shared (they are never mutated). */
export interface MergeState {
  config: Record<string, unknown> & Record<Kind, Record<string, unknown>>;
  /** "routers\u0000api" → who defined it ("divisor.yaml", 'provider "etcd"'). */
  owners: Map<string, string>;
}

/** The starting point: the file's configuration, every name owned by `source`. */
export function mergeBase(base: DivisorConfig, source: string): MergeState {
  const config = { ...base } as MergeState["config"];
  const owners = new Map<string, string>();
  for (const [kind] of KINDS) {
    config[kind] = { ...(base[kind] as Record<string, unknown>) };
    for (const name of Object.keys(config[kind])) owners.set(`${kind}\u0000${name}`, source);
  }
  return { config, owners };
}

/** Copy of a state, for trying a fragment without touching it. */
export function cloneState(state: MergeState): MergeState {
  const config = { ...state.config } as MergeState["config"];
  for (const [kind] of KINDS) config[kind] = { ...state.config[kind] };
  return { config, owners: new Map(state.owners) };
}

/**
 * Adds a provider's fragment to `state` (in place), or throws a ProviderFragmentError
 * naming both sources of each colliding name. `provider` is its name.
 */
export function mergeFragment(state: MergeState, provider: string, fragment: ConfigFragment): void {
  const me = `provider "${provider}"`;
  const problems: string[] = [];
  for (const [kind, word] of KINDS) {
    for (const name of Object.keys(fragment[kind] ?? {})) {
      const owner = state.owners.get(`${kind}\u0000${name}`);
      if (owner !== undefined) problems.push(`${word} "${name}" is already defined by ${owner}`);
    }
  }
  if (problems.length > 0) {
    throw new ProviderFragmentError(`${me} refused: ${problems.join("; ")}. Rename them in the provider's data (the file's names, and earlier providers' in providers: order, win)`);
  }
  for (const [kind] of KINDS) {
    for (const [name, value] of Object.entries(fragment[kind] ?? {})) {
      state.config[kind][name] = value;
      state.owners.set(`${kind}\u0000${name}`, me);
    }
  }
  for (const [service, backends] of Object.entries(fragment.backends ?? {})) {
    const spec = state.config.services[service] as { discovery?: { provider?: string } } | undefined;
    if (spec === undefined) {
      problems.push(`it reports backends for service "${service}", which is not defined; define services.${service} with discovery: { provider: ${provider} }`);
    } else if (spec.discovery?.provider !== provider) {
      const asks = spec.discovery?.provider === undefined ? "has no discovery" : `takes its backends from provider "${spec.discovery.provider}"`;
      problems.push(`it reports backends for service "${service}", which ${asks}; set services.${service}.discovery: { provider: ${provider} } to use them`);
    } else {
      state.config.services[service] = { ...spec, backends };
    }
  }
  if (problems.length > 0) throw new ProviderFragmentError(`${me} refused: ${problems.join("; ")}`);
  addCertificates(state, fragment.certificates);
}

/** A fragment's certificates go to every HTTPS listener, after its own (so its defaultCertificate index still holds). */
function addCertificates(state: MergeState, certificates: ConfigFragment["certificates"]): void {
  if (certificates === undefined || certificates.length === 0) return;
  const listeners = state.config.listeners as DivisorConfig["listeners"];
  state.config.listeners = listeners.map((l) => (l.tls === undefined ? l : { ...l, tls: { ...l.tls, certificates: [...l.tls.certificates, ...(certificates as typeof l.tls.certificates)] } }));
}
