/**
 * The standard `process_*` metrics of Prometheus client libraries: CPU
 * seconds, resident memory, start time, open and maximum file descriptors.
 * Deno refuses `/proc/self` reads without `--allow-all`, so CPU comes from
 * `process.cpuUsage()`, the start time from `performance.timeOrigin`, and
 * the descriptors from libc through FFI (`opendir` of `/proc/self/fd`,
 * `getrlimit`); without FFI the two fd families are left out.
 *
 * @module
 */

import process from "node:process";
import type { Emit, MetricsScope } from "./registry.ts";

const RLIMIT_NOFILE = 7;

const SYMBOLS = {
  opendir: { parameters: ["buffer"], result: "pointer" },
  readdir: { parameters: ["pointer"], result: "pointer" },
  closedir: { parameters: ["pointer"], result: "i32" },
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

let libc: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | null | undefined;

function openLibc(): typeof libc {
  if (libc !== undefined) return libc;
  try {
    libc = Deno.build.os === "linux" ? Deno.dlopen("libc.so.6", SYMBOLS).symbols : null;
  } catch {
    libc = null;
  }
  return libc;
}

const FD_DIR = new TextEncoder().encode("/proc/self/fd\0");

function openFds(): number | undefined {
  const c = openLibc();
  if (!c) return undefined;
  const dir = c.opendir(FD_DIR);
  if (dir === null) return undefined;
  let n = 0;
  while (c.readdir(dir) !== null) n++;
  c.closedir(dir);
  // "." and ".." and the descriptor opendir itself holds.
  return n - 3;
}

function maxFds(): number | undefined {
  const c = openLibc();
  if (!c) return undefined;
  const limits = new BigUint64Array(2);
  if (c.getrlimit(RLIMIT_NOFILE, limits) !== 0) return undefined;
  return Number(limits[0]);
}

function emitDefined(emit: Emit, value: number | undefined): void {
  if (value !== undefined && Number.isFinite(value)) emit([], value);
}

/** Registers the `process_*` families in `scope`. */
export function registerProcessMetrics(scope: MetricsScope): void {
  scope.collect({
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
    type: "counter",
  }, (emit) => {
    const u = process.cpuUsage();
    emit([], (u.user + u.system) / 1e6);
  });
  scope.collect({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    type: "gauge",
  }, (emit) => emit([], Deno.memoryUsage().rss));
  scope.collect({
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
    type: "gauge",
  }, (emit) => emit([], Math.floor(performance.timeOrigin) / 1000));
  scope.collect({
    name: "process_open_fds",
    help: "Number of open file descriptors.",
    type: "gauge",
  }, (emit) => emitDefined(emit, openFds()));
  scope.collect({
    name: "process_max_fds",
    help: "Maximum number of open file descriptors.",
    type: "gauge",
  }, (emit) => emitDefined(emit, maxFds()));
}
