/**
 * DNS benchmark: vigia's `dns` component against NSD, same zone, same
 * queries, same machine, one after the other.
 *
 * Builds one zone file (hosts with A/AAAA/TXT, apex MX) and one dnsperf
 * query file (existing A/AAAA, MX/TXT and NXDOMAIN mixed), serves the zone
 * from NSD (server-count 1, RRL off) and from `vigia run` (only `dns`
 * enabled, RRL off) on loopback ports, runs `dnsperf -c 4 -l SECONDS`
 * against each in turn and prints qps, lost queries, server CPU (and CPU
 * per query, steadier than qps on a shared machine where dnsperf itself is
 * often the bottleneck) and the vigia/NSD ratio.
 *
 * Usage: deno run -A scripts/bench/dns.ts [--seconds 15] [--rounds 1] [--workers 1] [--hosts 2000]
 *        [--clients 4] [--only nsd|vigia] [--fast-path auto|off] [--metrics off|on|both]
 *        [--warmup SECONDS] [--rate QPS] [--pin]
 *
 * `--metrics both` runs vigia twice per round, with `[metrics]` off and on
 * (in alternating order: off/on, on/off, ...), and prints each round's
 * ratios on/off of qps and of server CPU per query, then the median of the
 * per-round ratios (a noisy round moves the median little) and the means:
 * the cost of counting on the fast path. Each vigia run is first warmed
 * up by `--warmup` seconds of the same queries (default 2 with `--metrics
 * both`, else 0), unmeasured, so that the pre-encoded answers are built
 * before the measured run starts. On 2 cores dnsperf is usually the
 * bottleneck (the server stays below one core), so the qps ratio mostly
 * measures dnsperf's luck; the CPU per query ratio is the server's own
 * cost, and its inverse the ratio of the capacities (queries per CPU
 * second). `--rate N` fixes the offered load (dnsperf -Q N) so that both
 * variants see the same batches; then the CPU ratio is the figure.
 * `--pin` runs dnsperf on CPU 0 and the server on CPU 1 (`taskset`), so
 * that the two do not trade places between runs.
 *
 * Needs `nsd` and `dnsperf` (Debian packages of the same names) and root
 * for NSD's defaults (it is told not to drop privileges).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { nsdConf } from "../nsd_conf.ts";
import { components } from "../../lib/app/mod.ts";
import { BENCH_ZONE, benchQueries, benchZone } from "./_dns_data.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "15" },
    rounds: { type: "string", default: "1" },
    workers: { type: "string", default: "1" },
    hosts: { type: "string", default: "2000" },
    clients: { type: "string", default: "4" },
    only: { type: "string", default: "" },
    "fast-path": { type: "string", default: "auto" },
    metrics: { type: "string", default: "off" },
    warmup: { type: "string", default: "" },
    rate: { type: "string", default: "" },
    pin: { type: "boolean", default: false },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
/** With --pin: the command prefixed by `taskset -c CPU` (dnsperf on CPU 0, the server on CPU 1). */
const pinned = (cpu: number, cmd: string, args: string[]): [string, string[]] =>
  values.pin ? ["taskset", ["-c", String(cpu), cmd, ...args]] : [cmd, args];
const warmup = Number(values.warmup || (values.metrics === "both" ? 2 : 0));
const hosts = Number(values.hosts);
const repo = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

function which(cmd: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((d) => {
    try {
      return Deno.statSync(`${d}/${cmd}`).isFile;
    } catch {
      return false;
    }
  });
}

for (const cmd of ["nsd", "dnsperf", "dig"]) {
  if (!which(cmd) && !which(`/usr/sbin/${cmd}`)) {
    console.error(`${cmd} is not installed (apt-get install nsd dnsperf bind9-dnsutils)`);
    Deno.exit(2);
  }
}

const dir = await Deno.makeTempDir({ prefix: "vigia-bench-dns-" });
const ZONE = BENCH_ZONE;
await Deno.writeTextFile(`${dir}/bench.zone`, benchZone(hosts));
await Deno.writeTextFile(
  `${dir}/queries.txt`,
  benchQueries(hosts).map(([name, type]) => `${name} ${type}\n`).join(""),
);

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = (l.addr as Deno.NetAddr).port;
  l.close();
  return p;
}

async function digOk(port: number): Promise<boolean> {
  const out = await new Deno.Command("dig", {
    args: ["@127.0.0.1", "-p", String(port), "+time=1", "+tries=1", "+short", `host1.${ZONE}`, "A"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).trim() === "10.0.0.1";
}

async function waitReady(port: number, child: Deno.ChildProcess, name: string): Promise<void> {
  let exited = false;
  child.status.then(() => (exited = true));
  for (let i = 0; i < 150; i++) {
    if (exited) throw new Error(`${name} exited during startup`);
    if (await digOk(port)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} did not answer within 30 s`);
}

/** CPU seconds (user + system) used by `pid` and all its descendants (NSD forks its servers). */
function cpuSeconds(pid: number): number {
  const procs: { pid: number; ppid: number; ticks: number }[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // Fields after "(comm)": state ppid ... utime (12th) stime (13th), in ticks of 1/100 s.
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      procs.push({
        pid: Number(entry.name),
        ppid: Number(f[1]),
        ticks: Number(f[11]) + Number(f[12]),
      });
    } catch { /* exited meanwhile */ }
  }
  const family = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs) {
      if (!family.has(p.pid) && family.has(p.ppid)) {
        family.add(p.pid);
        grew = true;
      }
    }
  }
  return procs.filter((p) => family.has(p.pid)).reduce((n, p) => n + p.ticks, 0) / 100;
}

interface Result {
  qps: number;
  lost: string;
  /** Server CPU (user + system) per second of the run. */
  cpu: number;
  /** Server CPU microseconds per query answered. */
  usPerQuery: number;
}

async function dnsperf(port: number, pid: number, length = seconds): Promise<Result> {
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const [cmd, args] = pinned(0, "dnsperf", [
    "-s",
    "127.0.0.1",
    "-p",
    String(port),
    "-d",
    `${dir}/queries.txt`,
    "-c",
    values.clients!,
    "-l",
    String(length),
    ...(values.rate ? ["-Q", values.rate] : []),
  ]);
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const used = cpuSeconds(pid) - cpu0;
  const wall = (performance.now() - t0) / 1000;
  const text = new TextDecoder().decode(out.stdout);
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const completed = Number(/Queries completed:\s+(\d+)/.exec(text)?.[1] ?? NaN);
  const lost = /Queries lost:\s+(\d+ \([\d.]+%\))/.exec(text)?.[1] ?? "?";
  if (Number.isNaN(qps) || Number.isNaN(completed)) {
    throw new Error(`dnsperf output not understood:\n${text}`);
  }
  return { qps, lost, cpu: used / wall, usPerQuery: (used / completed) * 1e6 };
}

async function startNsd(port: number): Promise<Deno.ChildProcess> {
  await Deno.writeTextFile(
    `${dir}/nsd.conf`,
    nsdConf({ dir, port, zones: [{ name: ZONE, file: "bench.zone" }] }),
  );
  const [cmd, args] = pinned(1, "nsd", ["-d", "-c", `${dir}/nsd.conf`]);
  const child = new Deno.Command(cmd, {
    args,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  child.stderr.cancel().catch(() => {});
  await waitReady(port, child, "nsd");
  return child;
}

async function startVigia(port: number, metrics: boolean): Promise<Deno.ChildProcess> {
  let conf = `[paths]
state_dir = "${dir}/vigia/lib"
log_dir = "${dir}/vigia/log"
runtime_dir = "${dir}/vigia/run"

[log]
level = "warn"

[dns]
listen = ["127.0.0.1:${port}"]
zone_files = ["${dir}/bench.zone"]
zone = []
udp_workers = ${Number(values.workers)}
fast_path = "${values["fast-path"]}"

[dns.rrl]
enabled = false
`;
  for (const c of components) {
    if (c.name === "metrics" && metrics) {
      conf += `\n[metrics]\nenabled = true\nlisten = "127.0.0.1:${freePort()}"\n`;
    } else if (c.name !== "dns") conf += `\n[${c.name}]\nenabled = false\n`;
  }
  await Deno.writeTextFile(`${dir}/vigia.toml`, conf);
  const denoJson = JSON.parse(await Deno.readTextFile(`${repo}/deno.json`));
  const flags = (denoJson.tasks.vigia as string).split(/\s+/).filter((t) =>
    t.startsWith("--allow-")
  );
  const [cmd, args] = pinned(1, Deno.execPath(), [
    "run",
    "--quiet",
    ...flags,
    `${repo}/main.ts`,
    "run",
    "--config",
    `${dir}/vigia.toml`,
  ]);
  const child = new Deno.Command(cmd, {
    args,
    cwd: dir,
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitReady(port, child, "vigia");
  return child;
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, 5000);
  await child.status;
  clearTimeout(timer);
}

const usPerQuery = (r: Result) => r.usPerQuery;
const fmt = (r: Result) =>
  `${Math.round(r.qps).toLocaleString("en").padStart(9)} qps  lost ${r.lost.padEnd(12)}  CPU ${
    String(Math.round(r.cpu * 100)).padStart(3)
  }% (${usPerQuery(r).toFixed(2)} us/query)`;

console.log(
  `zone: ${hosts} hosts; queries: 35% A, 25% AAAA, 10% MX, 10% TXT, 20% NXDOMAIN; dnsperf -c ${values.clients} -l ${seconds}${
    values.rate ? ` -Q ${values.rate}` : ""
  }${
    warmup > 0 ? `, after ${warmup} s of warm-up` : ""
  }; ${Deno.osRelease()}, ${navigator.hardwareConcurrency} cores`,
);
const nsdResults: Result[] = [], vigiaResults: Result[] = [];
const withMetrics: Result[] = [], withoutMetrics: Result[] = [];
/** Per round, metrics on/off: qps ratio and CPU per query ratio. */
const roundRatios: { qps: number; cpu: number }[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    if (values.only !== "vigia") {
      const nsdPort = freePort();
      const nsd = await startNsd(nsdPort);
      try {
        if (warmup > 0) await dnsperf(nsdPort, nsd.pid, warmup);
        const r = await dnsperf(nsdPort, nsd.pid);
        nsdResults.push(r);
        console.log(`round ${round}  NSD   ${fmt(r)}`);
      } finally {
        await stop(nsd);
      }
    }
    if (values.only === "nsd") continue;
    const variants = values.metrics === "both"
      ? (round % 2 === 1 ? [false, true] : [true, false])
      : [values.metrics === "on"];
    const pair: Record<string, Result> = {};
    for (const metrics of variants) {
      const vigiaPort = freePort();
      const vigia = await startVigia(vigiaPort, metrics);
      try {
        if (warmup > 0) await dnsperf(vigiaPort, vigia.pid, warmup);
        const r = await dnsperf(vigiaPort, vigia.pid);
        vigiaResults.push(r);
        (metrics ? withMetrics : withoutMetrics).push(r);
        pair[metrics ? "on" : "off"] = r;
        console.log(`round ${round}  vigia ${fmt(r)}  metrics ${metrics ? "on" : "off"}`);
      } finally {
        await stop(vigia);
      }
    }
    if (pair.on && pair.off) {
      const ratio = {
        qps: pair.on.qps / pair.off.qps,
        cpu: pair.on.usPerQuery / pair.off.usPerQuery,
      };
      roundRatios.push(ratio);
      console.log(
        `round ${round}  on/off: qps ${ratio.qps.toFixed(3)}, CPU per query ${
          ratio.cpu.toFixed(3)
        }`,
      );
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
const mean = (rs: Result[], f: (r: Result) => number = (r) => r.qps) =>
  rs.reduce((n, r) => n + f(r), 0) / rs.length;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
if (nsdResults.length > 0 && vigiaResults.length > 0) {
  const ratio = mean(vigiaResults) / mean(nsdResults);
  console.log(
    `NSD ${Math.round(mean(nsdResults))} qps, vigia ${Math.round(mean(vigiaResults))} qps: ratio ${
      ratio.toFixed(2)
    }x (bar 0.5x, goal 1.0x); server CPU per query: NSD ${
      mean(nsdResults, usPerQuery).toFixed(2)
    } us, vigia ${mean(vigiaResults, usPerQuery).toFixed(2)} us`,
  );
}
const range = (xs: number[]) => `${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)}`;
if (roundRatios.length > 0) {
  const qps = median(roundRatios.map((r) => r.qps));
  const cpu = median(roundRatios.map((r) => r.cpu));
  console.log(
    `metrics on/off over ${roundRatios.length} rounds: median qps ratio ${
      qps.toFixed(3)
    } (bar >= 0.97; rounds ${range(roundRatios.map((r) => r.qps))}); median CPU per query ratio ${
      cpu.toFixed(3)
    } (rounds ${range(roundRatios.map((r) => r.cpu))}; capacity ratio ${
      (1 / cpu).toFixed(3)
    }); means: on ${Math.round(mean(withMetrics))} qps ${
      mean(withMetrics, usPerQuery).toFixed(2)
    } us/query, off ${Math.round(mean(withoutMetrics))} qps ${
      mean(withoutMetrics, usPerQuery).toFixed(2)
    } us/query`,
  );
}
