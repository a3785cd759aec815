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
 *
 * `--metrics both` runs vigia twice per round, with `[metrics]` off and on
 * (in alternating order), and prints the qps ratio on/off: the cost of
 * counting on the fast path.
 *
 * Needs `nsd` and `dnsperf` (Debian packages of the same names) and root
 * for NSD's defaults (it is told not to drop privileges).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { nsdConf } from "../nsd_conf.ts";
import { components } from "../../lib/app/mod.ts";

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
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
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
const ZONE = "bench.test.";

function buildZone(): string {
  const lines = [
    `$ORIGIN ${ZONE}`,
    "$TTL 3600",
    "@ SOA ns1 hostmaster 2024010101 7200 3600 1209600 300",
    "@ NS ns1",
    "@ NS ns2",
    "@ MX 10 mail1",
    "@ MX 20 mail2",
    '@ TXT "v=spf1 mx -all"',
    "ns1 A 192.0.2.1",
    "ns1 AAAA 2001:db8::1",
    "ns2 A 192.0.2.2",
    "mail1 A 192.0.2.25",
    "mail2 A 192.0.2.26",
  ];
  for (let i = 0; i < hosts; i++) {
    lines.push(`host${i} A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    lines.push(`host${i} AAAA 2001:db8:${(i >> 16).toString(16)}::${(i & 0xffff).toString(16)}`);
    if (i % 4 === 0) lines.push(`host${i} MX 10 mail1`);
    if (i % 3 === 0) lines.push(`host${i} TXT "host number ${i}" "bench"`);
  }
  return lines.join("\n") + "\n";
}

function buildQueries(): string {
  // Deterministic mix: 35% A, 25% AAAA, 10% MX, 10% TXT (existing), 20% NXDOMAIN.
  let seed = 12345;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
  const out: string[] = [];
  for (let i = 0; i < 20000; i++) {
    const r = rnd();
    const h = Math.floor(rnd() * hosts);
    if (r < 0.35) out.push(`host${h}.${ZONE} A`);
    else if (r < 0.60) out.push(`host${h}.${ZONE} AAAA`);
    else if (r < 0.70) out.push(rnd() < 0.5 ? `${ZONE} MX` : `host${h - (h % 4)}.${ZONE} MX`);
    else if (r < 0.80) out.push(rnd() < 0.5 ? `${ZONE} TXT` : `host${h - (h % 3)}.${ZONE} TXT`);
    else out.push(`nx${h}-${i}.${ZONE} A`);
  }
  return out.join("\n") + "\n";
}

await Deno.writeTextFile(`${dir}/bench.zone`, buildZone());
await Deno.writeTextFile(`${dir}/queries.txt`, buildQueries());

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
  cpu: number;
}

async function dnsperf(port: number, pid: number): Promise<Result> {
  const cpu0 = cpuSeconds(pid);
  const out = await new Deno.Command("dnsperf", {
    args: [
      "-s",
      "127.0.0.1",
      "-p",
      String(port),
      "-d",
      `${dir}/queries.txt`,
      "-c",
      values.clients!,
      "-l",
      String(seconds),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const cpu = (cpuSeconds(pid) - cpu0) / seconds;
  const text = new TextDecoder().decode(out.stdout);
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const lost = /Queries lost:\s+(\d+ \([\d.]+%\))/.exec(text)?.[1] ?? "?";
  if (Number.isNaN(qps)) throw new Error(`dnsperf output not understood:\n${text}`);
  return { qps, lost, cpu };
}

async function startNsd(port: number): Promise<Deno.ChildProcess> {
  await Deno.writeTextFile(
    `${dir}/nsd.conf`,
    nsdConf({ dir, port, zones: [{ name: ZONE, file: "bench.zone" }] }),
  );
  const child = new Deno.Command("nsd", {
    args: ["-d", "-c", `${dir}/nsd.conf`],
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
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...flags, `${repo}/main.ts`, "run", "--config", `${dir}/vigia.toml`],
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

const usPerQuery = (r: Result) => (r.cpu / r.qps) * 1e6;
const fmt = (r: Result) =>
  `${Math.round(r.qps).toLocaleString("en").padStart(9)} qps  lost ${r.lost.padEnd(12)}  CPU ${
    String(Math.round(r.cpu * 100)).padStart(3)
  }% (${usPerQuery(r).toFixed(2)} us/query)`;

console.log(
  `zone: ${hosts} hosts; queries: 35% A, 25% AAAA, 10% MX, 10% TXT, 20% NXDOMAIN; dnsperf -c ${values.clients} -l ${seconds}; ${Deno.osRelease()}, ${navigator.hardwareConcurrency} cores`,
);
const nsdResults: Result[] = [], vigiaResults: Result[] = [];
const withMetrics: Result[] = [], withoutMetrics: Result[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    if (values.only !== "vigia") {
      const nsdPort = freePort();
      const nsd = await startNsd(nsdPort);
      try {
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
    for (const metrics of variants) {
      const vigiaPort = freePort();
      const vigia = await startVigia(vigiaPort, metrics);
      try {
        const r = await dnsperf(vigiaPort, vigia.pid);
        vigiaResults.push(r);
        (metrics ? withMetrics : withoutMetrics).push(r);
        console.log(`round ${round}  vigia ${fmt(r)}  metrics ${metrics ? "on" : "off"}`);
      } finally {
        await stop(vigia);
      }
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
const mean = (rs: Result[], f: (r: Result) => number = (r) => r.qps) =>
  rs.reduce((n, r) => n + f(r), 0) / rs.length;
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
if (withMetrics.length > 0 && withoutMetrics.length > 0) {
  console.log(
    `metrics on ${Math.round(mean(withMetrics))} qps, off ${
      Math.round(mean(withoutMetrics))
    } qps: ratio on/off ${
      (mean(withMetrics) / mean(withoutMetrics)).toFixed(3)
    } (bar >= 0.97); CPU per query on ${mean(withMetrics, usPerQuery).toFixed(2)} us, off ${
      mean(withoutMetrics, usPerQuery).toFixed(2)
    } us`,
  );
}
