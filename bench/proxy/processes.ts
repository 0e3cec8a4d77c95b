/**
 * Processes the bench starts: pinned to a core with taskset, logs in the run's
 * temp dir, each in its own process group so nginx's workers die with their
 * master, all killed when the bench ends (normally, on an error or on Ctrl-C).
 * CPU time and peak RSS are read from /proc, the only accounting that covers
 * nginx's workers, HAProxy's threads and Node's libuv threads alike.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** A process started by the bench, with where its output goes. */
export interface BenchProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
}

const running = new Set<BenchProcess>();

/**
 * Starts `command args` pinned to `core` (taskset execs, so the pid is the program's own).
 * stdout and stderr go to `<dir>/<name>.log`.
 */
export function spawnPinned(name: string, core: number, command: string, args: readonly string[], dir: string, cwd?: string): BenchProcess {
  const logFile = join(dir, `${name}.log`);
  const fd = openSync(logFile, "a");
  const child = spawn("taskset", ["-c", String(core), command, ...args], {
    cwd: cwd ?? dir,
    stdio: ["ignore", fd, fd],
    detached: true,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
    child.once("error", (err) => resolve(err.message));
  });
  const proc: BenchProcess = { name, child, pid: child.pid, logFile, exited };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

/** Stops a process and its group: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(proc: BenchProcess, graceMs = 2000): Promise<void> {
  if (!running.has(proc)) return;
  signalGroup(proc.pid, "SIGTERM");
  const timer = setTimeout(() => signalGroup(proc.pid, "SIGKILL"), graceMs);
  await proc.exited;
  clearTimeout(timer);
  // nginx's workers may outlive the master by a moment; the group kill catches them.
  signalGroup(proc.pid, "SIGKILL");
  running.delete(proc);
}

const helpers = new Set<ChildProcess>();

/** Registers a short-lived child (wrk) so that an interrupted bench kills it too. */
export function trackChild(child: ChildProcess): void {
  helpers.add(child);
  child.once("exit", () => helpers.delete(child));
}

/** Kills every process the bench started, at once (for exit paths that cannot wait). */
export function killAllNow(): void {
  for (const proc of running) signalGroup(proc.pid, "SIGKILL");
  running.clear();
  for (const child of helpers) child.kill("SIGKILL");
  helpers.clear();
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** The last lines of a process's log, for error messages. */
export function logTail(proc: BenchProcess, lines = 15): string {
  try {
    return readFileSync(proc.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

// ---------------------------------------------------------------- /proc accounting

/** Fields of /proc/<pid>/stat the bench needs. */
export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  readonly cpuTicks: number;
}

/**
 * Parses the text of /proc/<pid>/stat. The command name sits in parentheses
 * and may itself hold spaces or parentheses, so fields are counted after the last ')'.
 */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) throw new Error(`unexpected /proc stat line: ${text.slice(0, 80)}`);
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17 (proc(5)).
  const field = (n: number): number => Number(rest[n - 3]);
  return {
    pid: Number(text.slice(0, open).trim()),
    ppid: field(4),
    cpuTicks: field(14) + field(15) + field(16) + field(17),
  };
}

/** Reads VmHWM (peak resident set) in bytes from the text of /proc/<pid>/status. */
export function parseVmHwm(text: string): number {
  const line = text.split("\n").find((l) => l.startsWith("VmHWM:"));
  if (line === undefined) return 0;
  return Number(line.slice(6).trim().split(/\s+/)[0]) * 1024;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** Every live descendant of `pid` (children, grandchildren...). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    const n = Number(entry);
    if (!Number.isInteger(n)) continue;
    const stat = readStat(n);
    if (stat === undefined) continue;
    const list = children.get(stat.ppid);
    if (list === undefined) children.set(stat.ppid, [n]);
    else list.push(n);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = children.get(queue.shift()!) ?? [];
    out.push(...next);
    queue.push(...next);
  }
  return out;
}

/** Sum of CPU ticks (all threads, plus reaped children) over `pids`. */
export function cpuTicks(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) total += readStat(pid)?.cpuTicks ?? 0;
  return total;
}

/** Sum of VmHWM over `pids`, in bytes. */
export function peakRss(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += parseVmHwm(readFileSync(`/proc/${pid}/status`, "utf8"));
    } catch {
      // exited
    }
  }
  return total;
}

/**
 * Busy ticks of the whole machine from the text of /proc/stat's first line:
 * everything but idle and iowait (steal included: a hypervisor taking the CPU
 * disturbs a run as much as a neighbour does).
 */
export function parseMachineBusy(text: string): number {
  const fields = text.slice(0, text.indexOf("\n")).trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return user + nice + system + irq + softirq + steal;
}

/** Busy ticks of the whole machine so far, all cores together. */
export function machineBusyTicks(): number {
  return parseMachineBusy(readFileSync("/proc/stat", "utf8"));
}

/** CPU ticks of the bench itself plus the children it has reaped (wrk, once a run is over). */
export function ownTicks(): number {
  return parseProcStat(readFileSync("/proc/self/stat", "utf8")).cpuTicks;
}

let ticksPerSecond: number | undefined;

/** The kernel's USER_HZ (clock ticks per second of /proc CPU times). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}
