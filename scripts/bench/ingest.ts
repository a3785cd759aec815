/**
 * Offline ingest benchmark: a 1M-packet DNS capture (generated into
 * `.bench/` once) run through `runIngest` — decode, SQLite rows, daily log
 * lines, devices, policy, flood counters — into a fresh store, compared
 * with `tshark -r FILE -T fields -e eth.src -e ip.src -e dns.qry.name` on
 * the same file in the same run.
 *
 * With `--format text,json` each run ingests the capture once per daily-log
 * format (`[log] format`), in turn (the order alternating between runs),
 * and prints how long the ingest with JSON lines takes against text lines
 * in that run, in wall time (what a user waits) and in CPU time of the
 * process (all threads; steadier than wall time on a shared machine).
 *
 * Usage: deno run -A scripts/bench/ingest.ts [--packets 1000000] [--runs 1] [--no-tshark]
 *        [--format text|json|text,json]
 *
 * Installs tshark with apt-get when missing (as root).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { cpuUsage } from "node:process";
import { loadVigiaConfig } from "../../lib/daemon/config.ts";
import { configSchema } from "../../lib/app/mod.ts";
import { openStore } from "../../lib/store/mod.ts";
import { DailyLog } from "../../lib/daylog/mod.ts";
import { AlertBus } from "../../lib/alerts/mod.ts";
import { createLogger } from "../../lib/log/mod.ts";
import { eventsDbPath, EventsReader, runIngest } from "../../lib/sniffer/mod.ts";
import { writeDnsCapture } from "./ingest_data.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    packets: { type: "string", default: "1000000" },
    runs: { type: "string", default: "1" },
    "no-tshark": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    format: { type: "string", default: "text" },
  },
});
const PACKETS = Number(values.packets);
const FORMATS = values.format.split(",") as ("text" | "json")[];
for (const f of FORMATS) if (f !== "text" && f !== "json") throw new Error(`--format: ${f}?`);
const root = new URL("../..", import.meta.url).pathname;
const benchDir = `${root}.bench`;
await Deno.mkdir(benchDir, { recursive: true });
const capture = `${benchDir}/dns-${PACKETS}.pcap`;

try {
  await Deno.stat(capture);
} catch {
  const t0 = performance.now();
  const n = await writeDnsCapture(capture, { packets: PACKETS });
  console.log(
    `generated ${capture}: ${n} packets in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}
const size = (await Deno.stat(capture)).size;

async function hasTshark(): Promise<boolean> {
  try {
    return (await new Deno.Command("tshark", { args: ["-v"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

async function timeTshark(): Promise<number | undefined> {
  if (values["no-tshark"]) return undefined;
  if (!(await hasTshark())) {
    if (Deno.uid() !== 0) {
      console.log("tshark is missing and this is not root: reference not measured");
      return undefined;
    }
    console.log("installing tshark (apt-get install -y tshark)...");
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    await new Deno.Command("apt-get", {
      args: ["install", "-y", "tshark"],
      env,
      stdout: "null",
      stderr: "null",
    })
      .output();
    if (!(await hasTshark())) {
      console.log("tshark could not be installed: reference not measured");
      return undefined;
    }
  }
  const t0 = performance.now();
  const out = await new Deno.Command("tshark", {
    args: ["-r", capture, "-T", "fields", "-e", "eth.src", "-e", "ip.src", "-e", "dns.qry.name"],
    stdout: "null",
    stderr: "null",
  }).output();
  if (!out.success) throw new Error("tshark failed");
  return (performance.now() - t0) / 1000;
}

async function timeIngest(format: "text" | "json"): Promise<
  {
    seconds: number;
    cpu: number;
    packets: number;
    events: number;
    rows: number;
    lines: number;
    bytes: number;
  }
> {
  const dir = await Deno.makeTempDir({ dir: benchDir, prefix: "ingest-" });
  const text =
    `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n[log]\ntimezone = "UTC"\nformat = "${format}"\n`;
  const { config } = await loadVigiaConfig(configSchema(), { text });
  await Deno.mkdir(`${dir}/lib`, { recursive: true });
  const store = openStore(`${dir}/lib/vigia.db`);
  const dailyLog = new DailyLog({ dir: `${dir}/log`, timeZone: "UTC", retentionDays: 0, format });
  const log = createLogger({ level: "error" });
  const alerts = new AlertBus({ store, dailyLog, log, config: config.alerts });
  const cpu0 = cpuUsage();
  const r = await runIngest(capture, { config, log, store, dailyLog, alerts });
  const used = cpuUsage(cpu0);
  const cpu = (used.user + used.system) / 1e6;
  await alerts.close();
  await dailyLog.close();
  const events = new EventsReader(eventsDbPath(store));
  const rows = events.get<{ n: number }>("SELECT count(*) AS n FROM events")!.n;
  events.close();
  store.close();
  let lines = 0, bytes = 0;
  for await (const e of Deno.readDir(`${dir}/log`)) {
    if (!e.name.startsWith("alerts-")) {
      const t = await Deno.readFile(`${dir}/log/${e.name}`);
      bytes += t.length;
      for (const b of t) if (b === 10) lines++;
    }
  }
  if (!values.keep) await Deno.remove(dir, { recursive: true });
  return { seconds: r.seconds, cpu, packets: r.packets, events: r.events, rows, lines, bytes };
}

console.log(`capture: ${capture} (${PACKETS} packets, ${(size / 1e6).toFixed(0)} MB)`);
const tshark = await timeTshark();
if (tshark !== undefined) {
  console.log(
    `tshark -T fields (eth.src, ip.src, dns.qry.name): ${tshark.toFixed(2)} s, ${
      Math.round(PACKETS / tshark)
    } pkt/s`,
  );
}
for (let run = 1; run <= Number(values.runs); run++) {
  const seconds: Record<string, number> = {}, cpu: Record<string, number> = {};
  // Every other run in the other order, so that neither format always goes first.
  for (const format of run % 2 ? FORMATS : [...FORMATS].reverse()) {
    const r = await timeIngest(format);
    seconds[format] = r.seconds;
    cpu[format] = r.cpu;
    const rate = r.packets / r.seconds;
    console.log(
      `vigia ingest run ${run}${FORMATS.length > 1 ? ` (${format})` : ""}: ${
        r.seconds.toFixed(2)
      } s (CPU ${r.cpu.toFixed(2)} s), ${
        Math.round(rate)
      } pkt/s; ${r.events} events, ${r.rows} rows stored, ${r.lines} ${
        format === "json" ? "JSON" : "text"
      } daily log lines (${(r.bytes / 1e6).toFixed(0)} MB)` +
        (tshark !== undefined ? `; ${(tshark / r.seconds).toFixed(2)}x tshark's speed` : ""),
    );
  }
  if (seconds.text !== undefined && seconds.json !== undefined) {
    console.log(
      `run ${run}: json / text ingest time = ${
        (seconds.json / seconds.text).toFixed(3)
      }, CPU time ${(cpu.json / cpu.text).toFixed(3)}`,
    );
  }
}
