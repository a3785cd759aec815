/**
 * The ingest benchmark of two checkouts in the same run, interleaved
 * (A B A B ...), on the same capture file: for each, `vigia ingest FILE`
 * timed from process start to exit (the figure a user timing the command
 * sees) into a fresh state, and the checkout's own `scripts/bench/ingest.ts`
 * (in-process `runIngest`). Prints every run (with the process's CPU
 * seconds, user + system, when GNU time is installed) and the B/A ratio of
 * the medians, so a change can be shown to be no slower than what it replaced:
 *
 * ```sh
 * git worktree add --detach /tmp/before 139844b
 * deno run -A scripts/bench/ingest_ab.ts --a /tmp/before --b . --packets 500000 --rounds 2
 * ```
 *
 * The capture is generated once by this checkout's `ingest_data.ts` into
 * `.bench/` and given to both (each checkout's bench script finds it there
 * through a link). On a shared machine expect noise: compare the ratio.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { writeDnsCapture } from "./ingest_data.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    a: { type: "string" },
    b: { type: "string", default: "." },
    packets: { type: "string", default: "500000" },
    rounds: { type: "string", default: "2" },
    "no-inprocess": { type: "boolean", default: false },
  },
});
if (!values.a) {
  console.error(
    "usage: deno run -A scripts/bench/ingest_ab.ts --a DIR [--b DIR] [--packets N] [--rounds N]",
  );
  Deno.exit(2);
}
const PACKETS = Number(values.packets);
const ROUNDS = Number(values.rounds);
// Real paths: `--b .` must be recognised as this checkout (or its capture would be replaced by a
// link to itself).
const abs = (p: string) => Deno.realPathSync(p);
const sides = { A: abs(values.a), B: abs(values.b) };
const here = Deno.realPathSync(new URL("../..", import.meta.url).pathname);
const capture = `${here}/.bench/dns-${PACKETS}.pcap`;
await Deno.mkdir(`${here}/.bench`, { recursive: true });
try {
  await Deno.stat(capture);
} catch {
  console.log(`generating ${capture}...`);
  await writeDnsCapture(capture, { packets: PACKETS });
}
// Each checkout's own bench script looks for the capture in its .bench/.
for (const dir of Object.values(sides)) {
  if (dir === here) continue;
  await Deno.mkdir(`${dir}/.bench`, { recursive: true });
  const link = `${dir}/.bench/dns-${PACKETS}.pcap`;
  try {
    await Deno.remove(link);
  } catch { /* not there yet */ }
  await Deno.symlink(capture, link);
}

const FLAGS = [
  "--quiet",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--allow-ffi",
];

/** GNU time, when installed: the CPU seconds (user + system, every thread) of the ingest too. */
const GNU_TIME = (() => {
  try {
    return Deno.statSync("/usr/bin/time").isFile ? "/usr/bin/time" : undefined;
  } catch {
    return undefined;
  }
})();

/** `vigia ingest` as a process into a fresh state: seconds from spawn to exit, and CPU seconds. */
async function timeCli(
  dir: string,
): Promise<{ seconds: number; cpu: number | undefined; events: number }> {
  const tmp = await Deno.makeTempDir({ prefix: "vigia-ab-" });
  try {
    const config = `${tmp}/vigia.toml`;
    await Deno.writeTextFile(
      config,
      `[paths]\nstate_dir = "${tmp}/lib"\nlog_dir = "${tmp}/log"\nruntime_dir = "${tmp}/run"\n` +
        `[log]\ntimezone = "UTC"\n`,
    );
    const argv = [Deno.execPath(), "run", ...FLAGS, `${dir}/main.ts`, "ingest", capture];
    argv.push("--config", config, "--json");
    const timing = `${tmp}/time.txt`;
    const cmd = GNU_TIME ? [GNU_TIME, "-f", "%U %S", "-o", timing, ...argv] : argv;
    const t0 = performance.now();
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      cwd: tmp,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const seconds = (performance.now() - t0) / 1000;
    if (!out.success) {
      throw new Error(`${dir}: ingest failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    let cpu: number | undefined;
    if (GNU_TIME) {
      const [user, sys] = (await Deno.readTextFile(timing)).trim().split(/\s+/).map(Number);
      cpu = user + sys;
    }
    return { seconds, cpu, events: r.events };
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** The checkout's own in-process benchmark: its `vigia ingest run 1: S s` figure. */
async function timeInProcess(dir: string): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${dir}/scripts/bench/ingest.ts`,
      "--packets",
      String(PACKETS),
      "--no-tshark",
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const m = /vigia ingest run 1: ([\d.]+) s/.exec(text);
  if (!out.success || !m) {
    throw new Error(`${dir}: bench failed: ${text}${new TextDecoder().decode(out.stderr)}`);
  }
  return Number(m[1]);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

console.log(`A = ${sides.A}\nB = ${sides.B}\ncapture: ${capture} (${PACKETS} packets)`);
const cli: Record<string, number[]> = { A: [], B: [] };
const cpu: Record<string, number[]> = { A: [], B: [] };
const inproc: Record<string, number[]> = { A: [], B: [] };
for (let round = 1; round <= ROUNDS; round++) {
  for (const side of ["A", "B"] as const) {
    const r = await timeCli(sides[side]);
    cli[side].push(r.seconds);
    if (r.cpu !== undefined) cpu[side].push(r.cpu);
    console.log(
      `round ${round} ${side} vigia ingest (process): ${r.seconds.toFixed(2)} s, ${
        Math.round(PACKETS / r.seconds)
      } pkt/s, ${r.events} events` + (r.cpu !== undefined ? `, CPU ${r.cpu.toFixed(2)} s` : ""),
    );
    if (!values["no-inprocess"]) {
      const s = await timeInProcess(sides[side]);
      inproc[side].push(s);
      console.log(
        `round ${round} ${side} runIngest (in-process): ${s.toFixed(2)} s, ${
          Math.round(PACKETS / s)
        } pkt/s`,
      );
    }
  }
}
const ratio = (m: Record<string, number[]>) => (median(m.A) / median(m.B)).toFixed(2);
console.log(`B speed / A speed (medians), process: ${ratio(cli)}x`);
if (cpu.A.length) console.log(`A CPU / B CPU (medians), process: ${ratio(cpu)}x`);
if (!values["no-inprocess"]) {
  console.log(`B speed / A speed (medians), in-process: ${ratio(inproc)}x`);
}
