/**
 * Live sniffer benchmark: DNS traffic on `lo` inside a network namespace
 * this script creates (NSD answering, dnsperf asking at a fixed rate),
 * captured by the whole sniffer component — capture worker, pipeline,
 * events database writer, daily log, devices, policy and flood counters —
 * as the daemon runs it. Prints packets expected (dnsperf's queries sent
 * and answers received), captured, stored and logged; kernel and vigia
 * drops; CPU of this process; RSS once a second after warm-up (flat = no
 * growth). The reference in the same run is `tcpdump -w /dev/null`.
 *
 * With `--central`, central shipping is on for the run as the daemon runs it
 * (the `central` component on the same store, default `[central]` settings)
 * into a local PostgreSQL (`test/central/_pg.ts`, over its Unix socket so
 * that nothing of it crosses `lo`). After the capture it waits (at most
 * 120 s) until the shipper's backlog is 0, then prints central's events
 * against the local store's (count, sum of ids, doubles), the shipper's
 * rows/s during and after the capture, and PostgreSQL's CPU.
 *
 * Usage (root): deno run -A scripts/bench/live.ts [--pps 150000] [--seconds 30] [--central]
 *
 * Needs `nsd`, `dnsperf`, `tcpdump`, `ip` (iproute2); with `--central`,
 * Debian's postgresql (15).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { enterNetns, startBenchDns, tcpdumpReference } from "./_netns_dns.ts";
import { AlertBus } from "../../lib/alerts/mod.ts";
import { configSchema } from "../../lib/app/mod.ts";
import { loadVigiaConfig } from "../../lib/daemon/config.ts";
import { sectionOf } from "../../lib/daemon/types.ts";
import { DailyLog } from "../../lib/daylog/mod.ts";
import { createLogger } from "../../lib/log/mod.ts";
import { eventsDbPath, EventsReader, snifferModule } from "../../lib/sniffer/mod.ts";
import { openStore } from "../../lib/store/mod.ts";
import { MetricsRegistry } from "../../lib/metrics/registry.ts";
import { centralModule } from "../../lib/central/mod.ts";
import type { CentralShipper } from "../../lib/central/shipper.ts";
import { startPostgres, type TestPostgres } from "../../test/central/_pg.ts";
import { centralEventSummary, localEventSummary } from "../../test/central/_central.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    pps: { type: "string", default: "150000" },
    seconds: { type: "string", default: "30" },
    clients: { type: "string", default: "2" },
    inner: { type: "boolean", default: false },
    "no-tcpdump": { type: "boolean", default: false },
    central: { type: "boolean", default: false },
  },
});
const PPS = Number(values.pps);
const SECONDS = Number(values.seconds);
const CENTRAL = values.central!;
const SENSOR = "bench-live";

await enterNetns(new URL(import.meta.url).pathname, {
  inner: values.inner!,
  prefix: "vigia-livebench",
});

// ---- inside the namespace ------------------------------------------------------

const bench = await startBenchDns({ prefix: "vigia-livebench-" });
const { dir, nsd } = bench;

function cpuSeconds(): number {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Busy, softirq, steal and total jiffies of the whole machine (all cores), from /proc/stat. */
function systemCpu(): { busy: number; softirq: number; steal: number; total: number } {
  const f = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1)
    .map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], softirq: f[6], steal: f[7], total };
}

/** CPU seconds of every process whose name starts with `name` (NSD's are "nsd: server 1", ...). */
function namedCpu(name: string): Map<number, number> {
  const out = new Map<number, number>();
  const ns = Deno.readLinkSync("/proc/self/ns/net");
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (!stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).startsWith(name)) continue;
      // Only this namespace's (another benchmark's NSD is not ours).
      if (Deno.readLinkSync(`/proc/${e.name}/ns/net`) !== ns) continue;
      const f = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
      out.set(Number(e.name), (Number(f[11]) + Number(f[12])) / 100);
    } catch { /* ended */ }
  }
  return out;
}

/** CPU seconds of process `pid` (self and reaped children when `children`). */
function processCpu(pid: number | "self", children = false): number {
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0)) / 100;
}

/** CPU seconds of each thread of this process, by "tid name"; with `wait`, seconds runnable but waiting for a core. */
function threadCpu(wait = false): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of Deno.readDirSync("/proc/self/task")) {
    try {
      const stat = Deno.readTextFileSync(`/proc/self/task/${e.name}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
      if (!wait) out.set(`${e.name} ${name}`, (Number(f[11]) + Number(f[12])) / 100);
      else {
        const w = Deno.readTextFileSync(`/proc/self/task/${e.name}/schedstat`).split(" ");
        out.set(`${e.name} ${name}`, Number(w[1]) / 1e9);
      }
    } catch { /* the thread ended */ }
  }
  return out;
}

const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(2)}%`;
console.log(
  `lo in a fresh netns: NSD + dnsperf -Q ${Math.round(PPS / 2)} for ${SECONDS} s (~${PPS} pkt/s)`,
);

if (!values["no-tcpdump"]) {
  const { expected, captured, dropped } = await tcpdumpReference(bench, {
    pps: PPS,
    seconds: SECONDS,
    clients: Number(values.clients),
  });
  console.log(
    `tcpdump -w /dev/null: expected ${expected}, captured ${captured} (${
      pct(captured, expected)
    }), kernel drops ${dropped}`,
  );
}

// With --central: PostgreSQL in this namespace, stopped and removed however the run ends.
let pg: TestPostgres | undefined;
await using _pgCleanup = { [Symbol.asyncDispose]: () => pg?.close() ?? Promise.resolve() };
if (CENTRAL) pg = await startPostgres();
const text =
  `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n` +
  `[log]\ntimezone = "UTC"\n[sniffer]\ninterfaces = ["lo"]\nfilter = "udp port 53"\nnew_station_alert = false\n` +
  (pg
    ? `[central]\nenabled = true\nurl = "${pg.socketUrl}"\npassword_file = "${pg.passwordFile}"\n` +
      `sensor = "${SENSOR}"\ntls = "disable"\nauto_migrate = true\n`
    : "");
const { config } = await loadVigiaConfig(configSchema(), { text });
await Deno.mkdir(`${dir}/lib`, { recursive: true });
const store = openStore(`${dir}/lib/vigia.db`);
store.migrate("sniffer", snifferModule.migrations!);
if (CENTRAL) store.migrate("central", centralModule.migrations!);
const dailyLog = new DailyLog({ dir: `${dir}/log`, timeZone: "UTC", retentionDays: 0 });
const log = createLogger({ level: "warn" });
const alerts = new AlertBus({ store, dailyLog, log, config: config.alerts });
const sniffer = snifferModule.create({
  section: sectionOf(snifferModule, config),
  config,
  store,
  alerts,
  dailyLog,
  log: log.child("sniffer"),
  metrics: new MetricsRegistry().scope("sniffer"),
});
const before = new Set(threadCpu().keys());
await sniffer.start();
// The sniffer's own threads: the ones its start created (workers are named "worker-N").
const started = [...threadCpu().keys()].filter((k) => !before.has(k));
let shipper: CentralShipper | undefined;
if (CENTRAL) {
  shipper = centralModule.create({
    section: sectionOf(centralModule, config),
    config,
    store,
    alerts,
    dailyLog,
    log: log.child("central"),
    metrics: new MetricsRegistry().scope("central"),
  });
  await shipper.start();
  // Connected (schema made, lease taken) before the load starts: shipping runs all along.
  for (let i = 0; shipper.snapshot().state !== "connected"; i++) {
    if (i === 300) throw new Error(`the shipper did not connect: ${shipper.snapshot().reason}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
/** Events shipped so far, the whole backlog, and the shipper's own smoothed rows/s. */
const shipped = () => {
  const s = shipper!.snapshot();
  return { events: s.streams.events?.shipped ?? 0, backlog: s.backlog_rows, rate: s.rows_per_s };
};
const backlogs: number[] = [], rates: number[] = [];
const rss: number[] = [], heap: number[] = [];
const sampler = setInterval(() => {
  const m = Deno.memoryUsage();
  rss.push(m.rss);
  heap.push(m.heapUsed + m.external);
  if (shipper) {
    const s = shipped();
    backlogs.push(s.backlog);
    rates.push(s.rate);
  }
}, 1000);
// Event loop stalls: a 20 ms timer that fires late says the main thread was busy.
let lastTick = performance.now(), maxStall = 0, stalled = 0;
const ticker = setInterval(() => {
  const now = performance.now(), gap = now - lastTick - 20;
  lastTick = now;
  if (gap > maxStall) maxStall = gap;
  if (gap > 100) stalled += gap;
}, 20);
const cpu0 = cpuSeconds();
const threads0 = threadCpu(), waits0 = threadCpu(true);
const sys0 = systemCpu(), nsd0 = namedCpu("nsd"), kids0 = processCpu("self", true) - cpu0;
const pg0 = namedCpu("postgres"), ship0 = shipper ? shipped().events : 0;
const load0 = performance.now();
const l = await bench.load({ pps: PPS, seconds: SECONDS, clients: Number(values.clients) });
const load1 = performance.now(),
  loadS = (load1 - load0) / 1000,
  ship1 = shipper ? shipped().events : 0;
const cpu = (cpuSeconds() - cpu0) / SECONDS;
const threads1 = threadCpu(), waits1 = threadCpu(true);
const sys1 = systemCpu();
let nsdCpu = 0;
for (const [pid, v] of namedCpu("nsd")) nsdCpu += (v - (nsd0.get(pid) ?? 0)) / SECONDS;
let pgCpu = 0;
for (const [pid, v] of namedCpu("postgres")) pgCpu += (v - (pg0.get(pid) ?? 0)) / SECONDS;
const dnsperfCpu = (processCpu("self", true) - cpuSeconds() - kids0) / SECONDS;
const cores = navigator.hardwareConcurrency;
const sysShare = (k: "busy" | "softirq" | "steal") =>
  `${((sys1[k] - sys0[k]) / (sys1.total - sys0.total) * cores * 100).toFixed(0)}%`;
clearInterval(sampler);
clearInterval(ticker);
// Let the last batches in, then stop (which flushes rows and lines).
for (let i = 0, last = -1; i < 50; i++) {
  const n = (sniffer.stats!() as { events: number }).events;
  if (n === last) break;
  last = n;
  await new Promise((r) => setTimeout(r, 200));
}
await sniffer.stop();
const s = sniffer.stats!() as Record<string, number>;
const events = new EventsReader(eventsDbPath(store));
const rows = events.get<{ n: number }>("SELECT count(*) AS n FROM events")!.n;
events.close();
// With --central: the shipper drains what the capture left (bounded), then central is counted.
let drain: { seconds: number; events: number; drained: boolean } | undefined;
let centralSum: Awaited<ReturnType<typeof centralEventSummary>> | undefined;
let localSum: ReturnType<typeof localEventSummary> | undefined;
if (shipper) {
  const d0 = performance.now();
  let st = shipped();
  while ((st.backlog > 0 || st.events < rows) && performance.now() - d0 < 120_000) {
    shipper.poke();
    await new Promise((r) => setTimeout(r, 50));
    st = shipped();
  }
  // From the end of the load: the sniffer's own last batches and its stop are in it.
  drain = {
    seconds: (performance.now() - load1) / 1000,
    events: st.events - ship1,
    drained: st.backlog === 0 && st.events >= rows,
  };
  await shipper.stop();
  localSum = localEventSummary(eventsDbPath(store));
  centralSum = await centralEventSummary(pg!, SENSOR);
}
await alerts.close(1000);
await dailyLog.close();
store.close();
let lines = 0;
for await (const e of Deno.readDir(`${dir}/log`)) {
  if (e.name.startsWith("alerts-")) continue;
  // Streamed: the day's file is gigabytes at these rates.
  using f = await Deno.open(`${dir}/log/${e.name}`);
  const buf = new Uint8Array(1 << 20);
  for (let n = await f.read(buf); n !== null; n = await f.read(buf)) {
    for (let i = buf.indexOf(10); i !== -1 && i < n; i = buf.indexOf(10, i + 1)) lines++;
  }
}
const expected = l.sent + l.completed;
console.log(
  `vigia sniffer: expected ${expected}, captured ${s.packets} (${pct(s.packets, expected)}), ` +
    `stored ${rows} (${
      pct(rows, expected)
    }), daily log lines ${lines}; kernel drops ${s.kernel_drops}, ` +
    `vigia drops ${s.vigia_drops} (capture ${s.capture_drops}, store ${s.store_drops}); CPU ${
      (cpu * 100).toFixed(0)
    }% of a core`,
);
const perThread = [...threads1].map(([k, v]) =>
  [k, (v - (threads0.get(k) ?? 0)) / SECONDS] as const
)
  .filter(([k, v]) => v >= 0.01 || started.includes(k)).sort((a, b) => b[1] - a[1])
  .map(([k, v]) =>
    `${k}${started.includes(k) ? "*" : shipper && !before.has(k) ? "+" : ""} ${
      (v * 100).toFixed(0)
    }% (waiting for a core ${
      (((waits1.get(k) ?? 0) - (waits0.get(k) ?? 0)) / SECONDS * 100).toFixed(0)
    }%)`
  );
console.log(
  `  machine: ${sysShare("busy")} busy of ${cores * 100}% (softirq ${sysShare("softirq")}, steal ${
    sysShare("steal")
  }; NSD ${(nsdCpu * 100).toFixed(0)}%, ${
    CENTRAL ? `PostgreSQL ${(pgCpu * 100).toFixed(0)}%, ` : ""
  }dnsperf ${(dnsperfCpu * 100).toFixed(0)}%, this process ${(cpu * 100).toFixed(0)}%)`,
);
console.log(
  `  CPU by thread (* = started by the sniffer${
    shipper ? ", + = started after it: the shipper's" : ""
  }): ${perThread.join(", ")}`,
);
console.log(
  `  main event loop: longest stall ${maxStall.toFixed(0)} ms, ${
    (stalled / 1000).toFixed(1)
  } s in stalls > 100 ms; RSS samples ${rss.length} in ${SECONDS} s`,
);
const warm = rss.slice(Math.min(5, rss.length - 1));
const mb = (n: number) => (n / 1048576).toFixed(0);
console.log(`  main thread V8 heap + external per second: ${heap.map(mb).join(" ")} MB`);
console.log(
  `  RSS after warm-up: min ${mb(Math.min(...warm))} MB, max ${mb(Math.max(...warm))} MB, last ${
    mb(warm[warm.length - 1])
  } MB; per second: ${warm.map(mb).join(" ")}`,
);
if (drain && localSum && centralSum) {
  const same = centralSum.count === localSum.count && centralSum.sum === localSum.sum &&
    centralSum.dups === 0;
  console.log(
    `central (PostgreSQL ${(pgCpu * 100).toFixed(0)}% of a core during the ` +
      `capture): events central ${centralSum.count}, local ${localSum.count} ` +
      `(${
        same ? "equal: same count and ids, no doubles" : "NOT EQUAL"
      }; id sums ${centralSum.sum} / ` +
      `${localSum.sum}, doubles ${centralSum.dups})`,
  );
  console.log(
    `  shipper: ${Math.round((ship1 - ship0) / loadS)} events/s during the capture ` +
      `(${ship1 - ship0} in ${loadS.toFixed(1)} s), ${drain.events} after it in ` +
      `${drain.seconds.toFixed(1)} s${
        drain.seconds > 0 ? ` (${Math.round(drain.events / drain.seconds)}/s)` : ""
      }${drain.drained ? "" : " NOT DRAINED within 120 s"}; backlog (all tables) per second ${
        backlogs.join(" ")
      }; its rows/s per second ${rates.join(" ")}`,
  );
  if (!same || !drain.drained) Deno.exitCode = 1;
}
nsd.kill("SIGTERM");
await nsd.status;
await Deno.remove(dir, { recursive: true });
