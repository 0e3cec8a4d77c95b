/**
 * Talking to the API server: @kubernetes/client-node's KubeConfig (in-cluster service
 * account, a kubeconfig file, or a server URL with a token file and a CA) for addresses
 * and credentials, its Watch for the event stream; lists and status patches are plain
 * requests with the same credentials.
 */
import { readFileSync, statSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { KubeConfig, type User, Watch } from "@kubernetes/client-node";
import { DivisorError } from "../../errors.js";
import { KubernetesApiError } from "./api-error.js";

export interface ConnectOptions {
  kubeconfig?: string;
  apiServer?: string;
  tokenFile?: string;
  caFile?: string;
}

/** A KubeConfig from the provider's options: a kubeconfig file, an explicit server, or the pod's service account. */
export function loadKubeConfig(opts: ConnectOptions): KubeConfig {
  const kc = new KubeConfig();
  if (opts.kubeconfig !== undefined) {
    kc.loadFromFile(opts.kubeconfig);
  } else if (opts.apiServer !== undefined) {
    kc.loadFromClusterAndUser({ name: "divisor", server: opts.apiServer, caFile: opts.caFile, skipTLSVerify: false }, { name: "divisor", authProvider: { name: TOKEN_FILE_AUTH, config: {} } });
    kc.addAuthenticator(new TokenFileAuth(opts.tokenFile));
  } else {
    const host = process.env.KUBERNETES_SERVICE_HOST;
    if (host === undefined || host === "")
      throw new DivisorError("ERR_KUBERNETES_CONFIG", "the kubernetes provider is not running in a pod (KUBERNETES_SERVICE_HOST is unset): give it kubeconfig: <file>, or apiServer with tokenFile and caFile");
    kc.loadFromCluster();
  }
  if (kc.getCurrentCluster() === null) throw new DivisorError("ERR_KUBERNETES_CONFIG", `the kubeconfig ${opts.kubeconfig ?? ""} has no current cluster: set current-context`);
  return kc;
}

const TOKEN_FILE_AUTH = "divisor-token-file";
type Authenticator = Parameters<KubeConfig["addAuthenticator"]>[0];

/**
 * The bearer token of `tokenFile`, read again when the file changes (rotated
 * service-account tokens) and trimmed (a file written by `echo` ends with a newline,
 * which is not allowed in a header).
 */
class TokenFileAuth implements Authenticator {
  private token = "";
  private mtimeMs = -1;

  constructor(private readonly file: string | undefined) {
    if (file !== undefined) this.read(); // unreadable: say so at start, not at the first call
  }

  private read(): void {
    if (this.file === undefined) return;
    const mtimeMs = statSync(this.file).mtimeMs;
    if (mtimeMs === this.mtimeMs) return;
    this.token = readFileSync(this.file, "utf8").trim();
    this.mtimeMs = mtimeMs;
  }

  isAuthProvider(user: User): boolean {
    return user.authProvider?.name === TOKEN_FILE_AUTH;
  }

  async applyAuthentication(_user: User, opts: https.RequestOptions): Promise<void> {
    if (this.file === undefined) return;
    this.read();
    opts.headers = { ...opts.headers, Authorization: `Bearer ${this.token}` };
  }
}

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: { metadata?: { resourceVersion?: string }; code?: number; message?: string; [k: string]: unknown };
}

export class KubeClient {
  private readonly watcher: Watch;
  readonly server: string;

  constructor(private readonly kc: KubeConfig) {
    this.watcher = new Watch(kc);
    this.server = kc.getCurrentCluster()!.server.replace(/\/+$/, "");
  }

  /** One request; the parsed JSON answer, or a KubernetesApiError naming the call and the server's message. */
  async request(method: string, path: string, body?: unknown, contentType = "application/json", signal?: AbortSignal): Promise<unknown> {
    const opts: https.RequestOptions = { method, headers: { accept: "application/json" } };
    await this.kc.applyToHTTPSOptions(opts);
    const url = new URL(this.server + path);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) opts.headers = { ...opts.headers, "content-type": contentType, "content-length": Buffer.byteLength(payload) };
    const lib = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(url, { ...opts, signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => reject(new KubernetesApiError(0, `${method} ${path}: ${err.message}`, { cause: err })));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = text === "" ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(json);
          else {
            const message = (json as { message?: string } | undefined)?.message ?? text.slice(0, 200);
            reject(new KubernetesApiError(status, `${method} ${path}: ${status} ${message}`));
          }
        });
      });
      req.on("error", (err) => reject(new KubernetesApiError(0, `${method} ${path}: ${err.message} (is ${this.server} reachable?)`, { cause: err })));
      req.end(payload);
    });
  }

  /**
   * Watch `path` from `resourceVersion` (with bookmarks) until the server ends the
   * stream, `signal` aborts, or it fails; resolves with the error, if any.
   */
  watch(path: string, resourceVersion: string, onEvent: (e: WatchEvent) => void, signal: AbortSignal, fieldSelector?: string): Promise<Error | null> {
    return new Promise((resolve) => {
      let controller: AbortController | undefined;
      // Stopping must not wait for a server that has not answered yet: the stream is
      // aborted as soon as the library hands its controller over.
      const onAbort = (): void => {
        controller?.abort();
        resolve(null);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.watcher
        .watch(
          path,
          { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300, fieldSelector },
          (type: string, object: WatchEvent["object"]) => onEvent({ type: type as WatchEvent["type"], object }),
          (err: unknown) => {
            signal.removeEventListener("abort", onAbort);
            resolve(err === null || err === undefined ? null : err instanceof Error ? err : new Error(String(err)));
          },
        )
        .then((c) => {
          controller = c;
          if (signal.aborted) c.abort();
        })
        .catch((err: unknown) => resolve(err instanceof Error ? err : new Error(String(err))));
    });
  }
}
