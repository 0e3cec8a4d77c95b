/**
 * Process and Node.js runtime metrics: CPU, memory, heap, GC pauses, event-loop
 * delay, file descriptors, active handles. Names and labels are those of
 * prom-client's default metrics, which Prometheus users and dashboards know.
 *
 * Why not prom-client itself: loading it costs about 9 MB of RSS (measured with
 * the gateway's Node flags), more than the whole headroom under the gateway's
 * 60 MB peak-RSS target; these collectors are a thin layer over Node's own
 * APIs (process.cpuUsage, memoryUsage, perf_hooks, /proc) and cost ~0.3 MB.
 */
import { readdirSync, readFileSync } from "node:fs";
import { constants, type IntervalHistogram, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics } from "node:v8";
import type { ExpositionWriter } from "./exposition.js";
import { boundsInMs, HistogramCell } from "./histogram.js";

const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined; // not Linux, or /proc not mounted: the metric is left out
  }
}

export class ProcessMetrics {
  private readonly loop: IntervalHistogram;
  private readonly gc = new Map<string, HistogramCell>();
  private readonly observer: PerformanceObserver;
  private readonly gcBounds = boundsInMs(GC_BUCKETS);
  private readonly startTime = Math.round(Date.now() / 1000 - process.uptime());

  constructor() {
    this.loop = monitorEventLoopDelay({ resolution: 10 });
    this.loop.enable();
    for (const kind of Object.values(GC_KINDS)) this.gc.set(kind, new HistogramCell(this.gcBounds));
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = GC_KINDS[(entry as { detail?: { kind?: number } }).detail?.kind ?? -1];
        if (kind !== undefined) this.gc.get(kind)!.observe(entry.duration);
      }
    });
    this.observer.observe({ entryTypes: ["gc"] });
  }

  /** Event-loop delay recorded since the collectors started, in milliseconds. */
  eventLoopDelay(): { minMs: number; meanMs: number; p50Ms: number; p99Ms: number; maxMs: number } {
    const h = this.loop;
    const ms = (ns: number) => (Number.isFinite(ns) ? Math.round(ns / 1e3) / 1e3 : 0);
    return { minMs: ms(h.min), meanMs: ms(h.mean), p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) };
  }

  stop(): void {
    this.loop.disable();
    this.observer.disconnect();
  }

  render(w: ExpositionWriter): void {
    const cpu = process.cpuUsage();
    w.family("process_cpu_user_seconds", "counter", "Total user CPU time spent in seconds.", "seconds").sample([], cpu.user / 1e6);
    w.family("process_cpu_system_seconds", "counter", "Total system CPU time spent in seconds.", "seconds").sample([], cpu.system / 1e6);
    w.family("process_cpu_seconds", "counter", "Total user and system CPU time spent in seconds.", "seconds").sample([], (cpu.user + cpu.system) / 1e6);
    w.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", "seconds").sample([], this.startTime);
    const mem = process.memoryUsage();
    w.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", "bytes").sample([], mem.rss);
    const status = readProc("/proc/self/status");
    const vm = status === undefined ? undefined : /^VmSize:\s+(\d+) kB/m.exec(status);
    if (vm) w.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", "bytes").sample([], Number(vm[1]) * 1024);
    const fds = this.openFds();
    if (fds !== undefined) w.family("process_open_fds", "gauge", "Number of open file descriptors.").sample([], fds);
    const limits = readProc("/proc/self/limits");
    const maxFds = limits === undefined ? undefined : /^Max open files\s+(\d+)/m.exec(limits);
    if (maxFds) w.family("process_max_fds", "gauge", "Maximum number of open file descriptors.").sample([], Number(maxFds[1]));

    const h = this.loop;
    const s = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
    w.family("nodejs_eventloop_lag_min_seconds", "gauge", "The minimum recorded event loop delay.", "seconds").sample([], s(h.min));
    w.family("nodejs_eventloop_lag_max_seconds", "gauge", "The maximum recorded event loop delay.", "seconds").sample([], s(h.max));
    w.family("nodejs_eventloop_lag_mean_seconds", "gauge", "The mean of the recorded event loop delays.", "seconds").sample([], s(h.mean));
    w.family("nodejs_eventloop_lag_stddev_seconds", "gauge", "The standard deviation of the recorded event loop delays.", "seconds").sample([], s(h.stddev));
    w.family("nodejs_eventloop_lag_p50_seconds", "gauge", "The 50th percentile of the recorded event loop delays.", "seconds").sample([], s(h.percentile(50)));
    w.family("nodejs_eventloop_lag_p90_seconds", "gauge", "The 90th percentile of the recorded event loop delays.", "seconds").sample([], s(h.percentile(90)));
    w.family("nodejs_eventloop_lag_p99_seconds", "gauge", "The 99th percentile of the recorded event loop delays.", "seconds").sample([], s(h.percentile(99)));
    // Each scrape reports the delays since the previous one (as prom-client does): a
    // histogram kept since start-up would hide a late loop behind hours of good ones.
    h.reset();

    const resources = process.getActiveResourcesInfo();
    const byType = new Map<string, number>();
    for (const r of resources) byType.set(r, (byType.get(r) ?? 0) + 1);
    w.family("nodejs_active_resources", "gauge", "Active resources keeping the event loop alive, by type (sockets, timers, ...).");
    for (const [type, n] of byType) w.sample([["type", type]], n);
    w.family("nodejs_active_resources_total", "gauge", "Total number of active resources.").sample([], resources.length);
    const handles = resources.filter((r) => r !== "Timeout" && r !== "Immediate").length;
    w.family("nodejs_active_handles_total", "gauge", "Total number of active handles (resources other than timers).").sample([], handles);

    w.family("nodejs_heap_size_total_bytes", "gauge", "Process heap size from Node.js in bytes.", "bytes").sample([], mem.heapTotal);
    w.family("nodejs_heap_size_used_bytes", "gauge", "Process heap size used from Node.js in bytes.", "bytes").sample([], mem.heapUsed);
    w.family("nodejs_external_memory_bytes", "gauge", "Node.js external memory size in bytes.", "bytes").sample([], mem.external);
    const spaces = getHeapSpaceStatistics();
    w.family("nodejs_heap_space_size_total_bytes", "gauge", "Process heap space size total from Node.js in bytes.", "bytes");
    for (const sp of spaces) w.sample([["space", sp.space_name.replace(/_space$/, "")]], sp.space_size);
    w.family("nodejs_heap_space_size_used_bytes", "gauge", "Process heap space size used from Node.js in bytes.", "bytes");
    for (const sp of spaces) w.sample([["space", sp.space_name.replace(/_space$/, "")]], sp.space_used_size);

    w.family("nodejs_gc_duration_seconds", "histogram", "Garbage collection duration by kind, one of minor, major, incremental or weakcb.", "seconds");
    for (const [kind, cell] of this.gc) w.histogram([["kind", kind]], cell, GC_BUCKETS);
  }

  private openFds(): number | undefined {
    try {
      return readdirSync("/proc/self/fd").length - 1; // minus the fd readdir itself opened
    } catch {
      return undefined;
    }
  }
}
