import { DivisorError } from "../../errors.js";

/** A failed call to the Kubernetes API (HTTP status, or 0 when no answer came). */
export class KubernetesApiError extends DivisorError {
  readonly status: number;
  constructor(status: number, message: string, options?: { cause?: unknown }) {
    super("ERR_KUBERNETES_API", message, options);
    this.status = status;
  }
}
