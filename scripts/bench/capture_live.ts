/**
 * Live capture benchmark: DNS traffic on `lo` inside a network namespace
 * this script creates (NSD answering, dnsperf asking at a fixed rate), first
 * captured by `tcpdump -w /dev/null` (the reference), then by vigia's
 * `startLiveCapture` (decode in the worker, batches to the main thread).
 * Prints packets expected (queries sent + answers received, from dnsperf),
 * packets captured and decoded, kernel/vigia drops and the RSS of this
 * process over the run.
 *
 * Both places of decoding are measured ("main": raw frames posted to the main
 * thread which decodes; "worker": decoded in the worker, events posted), with
 * the CPU time this process used.
 *
 * Usage (root): deno run -A scripts/bench/capture_live.ts [--pps 150000] [--seconds 30]
 *               [--decode-in main,worker] [--only tcpdump|vigia]
 *
 * Needs `nsd`, `dnsperf`, `tcpdump`, `ip` (iproute2).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { enterNetns, startBenchDns, tcpdumpReference } from "./_netns_dns.ts";
import { startLiveCapture } from "../../lib/capture/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    pps: { type: "string", default: "150000" },
    seconds: { type: "string", default: "30" },
    clients: { type: "string", default: "2" },
    inner: { type: "boolean", default: false },
    only: { type: "string" },
    "decode-in": { type: "string", default: "main,worker" },
  },
});
const PPS = Number(values.pps);
const SECONDS = Number(values.seconds);

await enterNetns(new URL(import.meta.url).pathname, {
  inner: values.inner!,
  prefix: "vigia-capbench",
});

// ---- inside the namespace ------------------------------------------------------

const bench = await startBenchDns({ prefix: "vigia-capbench-" });
const { dir, nsd } = bench;

function line(label: string, expected: number, captured: number, extra: string): void {
  console.log(
    `${label.padEnd(12)} expected ${expected.toLocaleString("en").padStart(10)}  captured ${
      captured.toLocaleString("en").padStart(10)
    } (${((captured / expected) * 100).toFixed(2)}%)  ${extra}`,
  );
}

console.log(
  `lo in a fresh netns: NSD + dnsperf -Q ${Math.round(PPS / 2)} for ${SECONDS} s (~${PPS} pkt/s)`,
);
let tcpdumpShare = 0;
if (values.only !== "vigia") {
  const { expected, captured, dropped } = await tcpdumpReference(bench, {
    pps: PPS,
    seconds: SECONDS,
    clients: Number(values.clients),
  });
  tcpdumpShare = captured / expected;
  line("tcpdump", expected, captured, `kernel drops ${dropped}`);
}

/** CPU seconds (user + system) this process has used, from /proc/self/stat. */
function cpuSeconds(): number {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

for (const decodeIn of values.only === "tcpdump" ? [] : values["decode-in"]!.split(",")) {
  if (decodeIn !== "main" && decodeIn !== "worker") {
    throw new Error(`--decode-in: main or worker, not ${decodeIn}`);
  }
  let events = 0;
  const capture = await startLiveCapture("lo", {
    filter: "udp port 53",
    decodeIn,
    onBatch(batch) {
      events += batch.length;
    },
  });
  const rss: number[] = [];
  const heap: string[] = [];
  const sampler = setInterval(() => {
    const m = Deno.memoryUsage();
    rss.push(m.rss);
    if (Deno.env.get("VIGIA_BENCH_VERBOSE")) {
      heap.push(
        `${(m.rss / 1048576).toFixed(0)}/${(m.heapTotal / 1048576).toFixed(0)}/${
          (m.heapUsed / 1048576).toFixed(0)
        }/${(m.external / 1048576).toFixed(0)}`,
      );
    }
  }, 1000);
  const cpu0 = cpuSeconds();
  const l = await bench.load({ pps: PPS, seconds: SECONDS, clients: Number(values.clients) });
  const cpu = (cpuSeconds() - cpu0) / SECONDS;
  // Let the last batches arrive: the worker posts after every dispatch return.
  for (let i = 0, last = -1; i < 50 && events !== last; i++) {
    last = events;
    await new Promise((r) => setTimeout(r, 100));
  }
  clearInterval(sampler);
  const c = capture.counters();
  await capture.stop();
  const expected = l.sent + l.completed;
  const warm = rss.slice(Math.min(5, rss.length - 1));
  const mb = (n: number) => (n / 1048576).toFixed(0);
  line(
    `vigia/${decodeIn}`,
    expected,
    c.packets,
    `decoded ${
      events.toLocaleString("en")
    }, kernel drops ${c.kernelDrops}, vigia drops ${c.vigiaDrops}, malformed ${
      JSON.stringify(c.malformed)
    }, CPU ${(cpu * 100).toFixed(0)}% of a core`,
  );
  console.log(
    `  RSS after warm-up: min ${mb(Math.min(...warm))} MB, max ${mb(Math.max(...warm))} MB, last ${
      mb(warm[warm.length - 1])
    } MB`,
  );
  if (heap.length) console.log(`  rss/heapUsed/external MB per second: ${heap.join(" ")}`);
  if (tcpdumpShare) {
    console.log(
      `  ratio captured/expected vs tcpdump's: ${
        ((c.packets / expected) / tcpdumpShare).toFixed(4)
      }`,
    );
  }
}
nsd.kill("SIGTERM");
await nsd.status;
await Deno.remove(dir, { recursive: true });
