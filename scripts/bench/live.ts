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
 * Usage (root): deno run -A scripts/bench/live.ts [--pps 150000] [--seconds 30]
 *
 * Needs `nsd`, `dnsperf`, `tcpdump`, `ip` (iproute2).
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

const { values } = parseArgs({
  args: Deno.args,
  options: {
    pps: { type: "string", default: "150000" },
    seconds: { type: "string", default: "30" },
    clients: { type: "string", default: "2" },
    inner: { type: "boolean", default: false },
    "no-tcpdump": { type: "boolean", default: false },
  },
});
const PPS = Number(values.pps);
const SECONDS = Number(values.seconds);

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

const text =
  `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n` +
  `[log]\ntimezone = "UTC"\n[sniffer]\ninterfaces = ["lo"]\nfilter = "udp port 53"\nnew_station_alert = false\n`;
const { config } = await loadVigiaConfig(configSchema(), { text });
await Deno.mkdir(`${dir}/lib`, { recursive: true });
const store = openStore(`${dir}/lib/vigia.db`);
store.migrate("sniffer", snifferModule.migrations!);
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
await sniffer.start();
const rss: number[] = [];
const sampler = setInterval(() => rss.push(Deno.memoryUsage().rss), 1000);
const cpu0 = cpuSeconds();
const l = await bench.load({ pps: PPS, seconds: SECONDS, clients: Number(values.clients) });
const cpu = (cpuSeconds() - cpu0) / SECONDS;
clearInterval(sampler);
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
await alerts.close(1000);
await dailyLog.close();
store.close();
let lines = 0;
for await (const e of Deno.readDir(`${dir}/log`)) {
  if (e.name.startsWith("alerts-")) continue;
  for (const b of await Deno.readFile(`${dir}/log/${e.name}`)) if (b === 10) lines++;
}
const expected = l.sent + l.completed;
console.log(
  `vigia sniffer: expected ${expected}, captured ${s.packets} (${pct(s.packets, expected)}), ` +
    `stored ${rows} (${
      pct(rows, expected)
    }), daily log lines ${lines}; kernel drops ${s.kernel_drops}, ` +
    `vigia drops ${s.vigia_drops} (store ${s.store_drops}); CPU ${
      (cpu * 100).toFixed(0)
    }% of a core`,
);
const warm = rss.slice(Math.min(5, rss.length - 1));
const mb = (n: number) => (n / 1048576).toFixed(0);
console.log(
  `  RSS after warm-up: min ${mb(Math.min(...warm))} MB, max ${mb(Math.max(...warm))} MB, last ${
    mb(warm[warm.length - 1])
  } MB; per second: ${warm.map(mb).join(" ")}`,
);
nsd.kill("SIGTERM");
await nsd.status;
await Deno.remove(dir, { recursive: true });
