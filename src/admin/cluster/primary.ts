/**
 * The admin API of a `divisor start --workers N` primary. The primary owns the
 * admin listener (workers bind none) and, behind the same authentication as a
 * single process, answers:
 *
 * - /metrics: every worker's exposition, asked over IPC and merged, each sample
 *   labelled worker="<slot>"; a worker that does not answer in time is left out,
 *   counted and logged, and the scrape still answers;
 * - /healthz itself, and /readyz ready when every worker is;
 * - any other route forwarded to the workers: a route that writes to every
 *   running worker (the answer is the first failure, else the first success),
 *   any other to one worker, `?worker=<slot>` or the lowest running slot;
 * - and, for a worker about to replace a dead one, what the admin API changed in
 *   a running worker (savedState), which the replacement takes over before serving.
 *
 * It knows routes only as AdminRoute values, so routes added later are
 * forwarded without changes here.
 */
import type { Worker } from "node:cluster";
import cluster from "node:cluster";
import { PassThrough, Readable } from "node:stream";
import type { Logger } from "pino";
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, ExpositionWriter, wantsOpenMetrics } from "../../observability/metrics/exposition.js";
import { mergeExpositions } from "../../observability/metrics/merge.js";
import { errorBody } from "../respond.js";
import { healthz, processStatus, readyz } from "../routes/health.js";
import { metrics } from "../routes/metrics.js";
import type { AdminRequest, AdminResponse, AdminRoute } from "../types.js";
import { fromWire, isAdminMessage, routeKey, type ToPrimary, type ToWorker, type WireRequest } from "./protocol.js";

/** How long /metrics and /readyz wait for each worker. */
export const WORKER_ANSWER_TIMEOUT_MS = 3000;

/** One worker position of the primary; its index is the worker label and survives restarts. */
export interface WorkerSlot {
  readonly index: number;
  /** The process in this slot now; undefined while it is being restarted. */
  worker: Worker | undefined;
  /** Times a dead worker of this slot was replaced. */
  restarts: number;
}

interface Pending {
  worker: Worker;
  resolve(response: AdminResponse): void;
  /** Set once a streamed answer has begun. */
  stream: PassThrough | null;
  timer: NodeJS.Timeout | undefined;
}

/** Request headers a worker's route may need; the credentials stay in the primary. */
function forwardedHeaders(headers: AdminRequest["headers"]): WireRequest["headers"] {
  const out: WireRequest["headers"] = {};
  for (const name in headers) if (name !== "authorization" && name !== "cookie") out[name] = headers[name];
  return out;
}

function wireRequest(route: AdminRoute, req: AdminRequest): WireRequest {
  const query = new URLSearchParams(req.query);
  query.delete("worker");
  return {
    route: routeKey(route),
    method: req.method,
    path: req.path,
    query: query.toString(),
    headers: forwardedHeaders(req.headers),
    params: { ...req.params },
    principal: req.principal,
    body: req.body.toString("base64"),
  };
}

export class ClusterAdmin {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  /** Workers whose admin IPC handler is listening. */
  private readonly serving = new Set<Worker>();
  private readonly scrapeFailures: number[];

  /** `ownMetrics` writes the families only the primary knows (the in-memory rate limits' keys) into each /metrics answer. */
  constructor(
    private readonly slots: readonly WorkerSlot[],
    private readonly log: Logger,
    private readonly ownMetrics: (w: ExpositionWriter) => void = () => {},
  ) {
    this.scrapeFailures = slots.map(() => 0);
    cluster.on("message", this.onMessage);
    cluster.on("exit", this.onExit);
    cluster.on("disconnect", this.onDisconnect);
  }

  close(): void {
    cluster.off("message", this.onMessage);
    cluster.off("exit", this.onExit);
    cluster.off("disconnect", this.onDisconnect);
  }

  /** The AdminServer's dispatch: answer in the primary or forward to the workers. */
  readonly dispatch = (route: AdminRoute, req: AdminRequest): Promise<AdminResponse> | AdminResponse => {
    if (route === metrics) return this.metrics(req);
    if (route === healthz) return this.health();
    if (route === readyz) return this.ready(req);
    if (route.writes === true) return this.toEvery(route, req);
    return this.toOne(route, req);
  };

  private onMessage = (worker: Worker, message: unknown): void => {
    if (!isAdminMessage(message)) return;
    const m = message as ToPrimary;
    if (m.divisorAdmin === "serving") {
      this.serving.add(worker);
      return;
    }
    const p = this.pending.get(m.id);
    if (p === undefined || p.worker !== worker) return;
    switch (m.divisorAdmin) {
      case "response":
        this.settle(m.id, { status: m.status, headers: m.headers, body: fromWire(m.body) });
        break;
      case "head":
        p.stream = new PassThrough();
        this.settle(m.id, { status: m.status, headers: m.headers, body: p.stream }, true);
        break;
      case "chunk":
        if (p.stream !== null && !p.stream.destroyed) p.stream.write(fromWire(m.data));
        break;
      case "end":
        this.pending.delete(m.id);
        if (m.error === undefined) p.stream?.end();
        else p.stream?.destroy(new Error(m.error));
        break;
    }
  };

  /** A worker that disconnects is on its way out: ask it nothing more. */
  private onDisconnect = (worker: Worker): void => {
    this.serving.delete(worker);
  };

  private onExit = (worker: Worker): void => {
    this.serving.delete(worker);
    for (const [id, p] of this.pending) {
      if (p.worker !== worker) continue;
      if (p.stream !== null) {
        this.pending.delete(id);
        p.stream.destroy(new Error("the worker exited mid-answer"));
      } else {
        this.settle(id, { status: 502, body: errorBody("ERR_ADMIN_WORKER_EXITED", `worker ${this.slotOf(worker)} exited before answering; try again`) });
      }
    }
  };

  private slotOf(worker: Worker): number {
    return this.slots.findIndex((s) => s.worker === worker);
  }

  /** Answer a pending request; `streaming` keeps it pending for the chunks that follow. */
  private settle(id: number, response: AdminResponse, streaming = false): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    clearTimeout(p.timer);
    if (!streaming) this.pending.delete(id);
    p.resolve(response);
  }

  /**
   * What the admin API changed at run time in a running worker (its gateway's savedState()),
   * as JSON, for a worker about to replace a dead one; undefined when no worker runs or answers in time.
   */
  async savedState(): Promise<string | undefined> {
    const slot = this.running()[0];
    if (slot === undefined) return undefined;
    const answer = await this.ask(slot, (id) => ({ divisorAdmin: "state", id }), undefined, WORKER_ANSWER_TIMEOUT_MS);
    if (answer.status === 200) return JSON.stringify(answer.body);
    this.log.warn({ worker: slot.index, status: answer.status }, "no state to hand to the replacing worker: it starts from the configuration file");
    return undefined;
  }

  /** Send the request `wire` (or the message `message` makes) to the worker of `slot`; its answer, 504 after `timeoutMs`, 499 when `signal` aborts first. */
  private ask(slot: WorkerSlot, wire: WireRequest | ((id: number) => ToWorker), signal: AbortSignal | undefined, timeoutMs?: number): Promise<AdminResponse> {
    const worker = slot.worker!;
    const id = ++this.seq;
    return new Promise((resolve) => {
      const p: Pending = { worker, resolve, stream: null, timer: undefined };
      this.pending.set(id, p);
      const cancel = (response: AdminResponse) => {
        if (!this.pending.has(id)) return;
        this.send(worker, { divisorAdmin: "abort", id }, () => {});
        this.settle(id, response);
      };
      if (timeoutMs !== undefined) {
        p.timer = setTimeout(
          () => cancel({ status: 504, body: errorBody("ERR_ADMIN_WORKER_TIMEOUT", `worker ${slot.index} did not answer within ${timeoutMs} ms`) }),
          timeoutMs,
        );
      }
      signal?.addEventListener("abort", () => cancel({ status: 499, body: errorBody("ERR_ADMIN_CANCELLED", "the client went away") }), { once: true });
      this.send(worker, typeof wire === "function" ? wire(id) : { divisorAdmin: "request", id, request: wire }, () =>
        this.settle(id, { status: 502, body: errorBody("ERR_ADMIN_WORKER_EXITED", `worker ${slot.index} is exiting and cannot answer; try again`) }),
      );
    });
  }

  /** Send to a worker whose channel may be closing: a failure goes to `failed`, never to an unhandled 'error'. */
  private send(worker: Worker, message: ToWorker, failed: () => void): void {
    if (!worker.isConnected()) {
      failed();
      return;
    }
    worker.send(message, undefined, {}, (err: Error | null) => {
      if (err !== null) failed();
    });
  }

  private running(): WorkerSlot[] {
    return this.slots.filter((s) => s.worker !== undefined && this.serving.has(s.worker));
  }

  private toOne(route: AdminRoute, req: AdminRequest): AdminResponse | Promise<AdminResponse> {
    const chosen = req.query.get("worker");
    let slot: WorkerSlot | undefined;
    if (chosen === null) {
      slot = this.running()[0];
      if (slot === undefined) return { status: 503, body: errorBody("ERR_ADMIN_NO_WORKER", "no worker is running right now (they are being restarted); try again") };
    } else {
      const i = Number(chosen);
      slot = /^\d+$/.test(chosen) ? this.slots[i] : undefined;
      if (slot === undefined) {
        return { status: 400, body: errorBody("ERR_ADMIN_BAD_PARAMETER", `worker must be a worker slot from 0 to ${this.slots.length - 1}, got "${chosen}"`) };
      }
      if (!this.running().includes(slot)) {
        return { status: 503, body: errorBody("ERR_ADMIN_NO_WORKER", `worker ${i} is not running right now (it is being restarted); try again or choose another ?worker=`) };
      }
    }
    return this.ask(slot, wireRequest(route, req), req.signal);
  }

  private async toEvery(route: AdminRoute, req: AdminRequest): Promise<AdminResponse> {
    const slots = this.running();
    if (slots.length === 0) return { status: 503, body: errorBody("ERR_ADMIN_NO_WORKER", "no worker is running right now (they are being restarted); try again") };
    const wire = wireRequest(route, req);
    const answers = await Promise.all(slots.map((s) => this.ask(s, wire, req.signal)));
    const chosen = answers.find((a) => a.status >= 400) ?? answers[0]!;
    for (const a of answers) if (a !== chosen && a.body instanceof Readable) a.body.destroy();
    if (route.mergeWorkerBodies !== undefined && chosen.status < 400) {
      return { ...chosen, body: route.mergeWorkerBodies(answers.map((a) => a.body)) };
    }
    return chosen;
  }

  private async metrics(req: AdminRequest): Promise<AdminResponse> {
    const accept = req.headers.accept;
    const open = wantsOpenMetrics(Array.isArray(accept) ? accept.join(",") : accept);
    const wire = wireRequest(metrics, req);
    const answers = await Promise.all(
      this.slots.map((s) => (this.running().includes(s) ? this.ask(s, wire, req.signal, WORKER_ANSWER_TIMEOUT_MS) : undefined)),
    );
    const byWorker = new Map<string, string>();
    const up: number[] = [];
    answers.forEach((a, i) => {
      if (a !== undefined && a.status === 200 && typeof a.body === "string") {
        byWorker.set(String(i), a.body);
        up.push(1);
        return;
      }
      up.push(0);
      this.scrapeFailures[i]!++;
      const reason = a === undefined ? "not running" : ((a.body as { error?: { message?: string } }).error?.message ?? `answered ${a.status}`);
      this.log.warn({ worker: i, reason }, "left a worker out of a /metrics scrape");
    });
    const w = new ExpositionWriter(open);
    w.family("divisor_workers", "gauge", "Worker processes the primary keeps running (--workers).").sample([], this.slots.length);
    w.family("divisor_worker_up", "gauge", "1 when the worker's metrics are in this scrape, 0 when it was left out (not running, failed or too slow).");
    for (let i = 0; i < up.length; i++) w.sample([["worker", String(i)]], up[i]!);
    w.family("divisor_worker_scrape_failures", "counter", `Scrapes that left the worker out: not running, failed, or no answer within ${WORKER_ANSWER_TIMEOUT_MS} ms.`);
    for (let i = 0; i < this.scrapeFailures.length; i++) w.sample([["worker", String(i)]], this.scrapeFailures[i]!);
    w.family("divisor_worker_restarts", "counter", "Times the primary replaced a dead worker in this slot.");
    for (const s of this.slots) w.sample([["worker", String(s.index)]], s.restarts);
    this.ownMetrics(w);
    const merged = byWorker.size > 0 ? mergeExpositions(byWorker, false) : "";
    return { status: 200, body: merged + w.finish(), headers: { "content-type": open ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE } };
  }

  private workersState() {
    return this.slots.map((s) => ({ worker: s.index, pid: s.worker?.process.pid, running: s.worker !== undefined && this.serving.has(s.worker), restarts: s.restarts }));
  }

  private health(): AdminResponse {
    return { status: 200, body: { status: "alive", ...processStatus(), workers: this.workersState() } };
  }

  private async ready(req: AdminRequest): Promise<AdminResponse> {
    const wire = wireRequest(readyz, req);
    const running = this.running();
    const workers = await Promise.all(
      this.slots.map(async (s) => {
        if (!running.includes(s)) return { worker: s.index, ready: false, reason: "not running (being restarted)" };
        const a = await this.ask(s, wire, req.signal, WORKER_ANSWER_TIMEOUT_MS);
        const body = a.body as { reason?: string; error?: { message?: string } };
        return { worker: s.index, ready: a.status === 200, reason: a.status === 200 ? undefined : (body.reason ?? body.error?.message ?? `answered ${a.status}`) };
      }),
    );
    const notReady = workers.filter((w) => !w.ready).map((w) => w.worker);
    const ready = notReady.length === 0;
    return {
      status: ready ? 200 : 503,
      body: { status: ready ? "ready" : "not ready", reason: ready ? undefined : `worker ${notReady.join(", ")} not ready`, workers, ...processStatus() },
    };
  }
}
