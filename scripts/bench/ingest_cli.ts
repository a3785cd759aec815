/**
 * `vigia ingest` as a user times it: the command from process start to
 * exit (runtime start-up, config, store, workers, hashing, decode, rows,
 * daily lines, durable close) on a synthetic DNS capture (the one
 * `ingest.ts` makes, in `.bench/`), each run against `tshark -r FILE -T
 * fields -e eth.src -e ip.src -e dns.qry.name` run right before it, so
 * both see the same load on a shared machine.
 *
 * Usage: deno run -A scripts/bench/ingest_cli.ts [--packets 500000] [--runs 2]
 *   [--binary dist/vigia]   (default: `deno run` of main.ts with the `vigia` task's flags)
 *
 * @module
 */

import { parseArgs } from "node:util";
import { writeDnsCapture } from "./ingest_data.ts";
import { readVigiaTask } from "../build.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    packets: { type: "string", default: "500000" },
    runs: { type: "string", default: "2" },
    binary: { type: "string" },
    "no-tshark": { type: "boolean", default: false },
  },
});
const PACKETS = Number(values.packets);
const root = new URL("../..", import.meta.url).pathname;
const benchDir = `${root}.bench`;
await Deno.mkdir(benchDir, { recursive: true });
const capture = `${benchDir}/dns-${PACKETS}.pcap`;
try {
  await Deno.stat(capture);
} catch {
  await writeDnsCapture(capture, { packets: PACKETS });
}

async function timed(cmd: string, args: string[]): Promise<{ seconds: number; out: string }> {
  const t0 = performance.now();
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const seconds = (performance.now() - t0) / 1000;
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(r.stderr)}`);
  }
  return { seconds, out: new TextDecoder().decode(r.stdout) };
}

const vigia: [string, string[]] = values.binary ? [values.binary, []] : (() => {
  const task = readVigiaTask();
  return [Deno.execPath(), ["run", ...task.flags, `${root}${task.entry}`]];
})();

console.log(
  `capture: ${capture} (${PACKETS} packets, ${
    ((await Deno.stat(capture)).size / 1e6).toFixed(0)
  } MB); vigia: ${[vigia[0], ...vigia[1]].join(" ")}`,
);
for (let run = 1; run <= Number(values.runs); run++) {
  let tshark: number | undefined;
  if (!values["no-tshark"]) {
    tshark = (await timed("tshark", [
      "-r",
      capture,
      "-T",
      "fields",
      "-e",
      "eth.src",
      "-e",
      "ip.src",
      "-e",
      "dns.qry.name",
    ])).seconds;
  }
  const dir = await Deno.makeTempDir({ dir: benchDir, prefix: "ingest-cli-" });
  await Deno.writeTextFile(
    `${dir}/vigia.toml`,
    `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n` +
      `[log]\ntimezone = "UTC"\nlevel = "error"\n`,
  );
  const r = await timed(vigia[0], [
    ...vigia[1],
    "ingest",
    capture,
    "--config",
    `${dir}/vigia.toml`,
    "--json",
  ]);
  const j = JSON.parse(r.out.trim().split("\n").pop()!);
  await Deno.remove(dir, { recursive: true });
  console.log(
    `run ${run}: vigia ingest ${r.seconds.toFixed(2)} s from start to exit, ${
      Math.round(PACKETS / r.seconds)
    } pkt/s (${j.events} events; inside the command ${j.seconds.toFixed(2)} s)` +
      (tshark !== undefined
        ? `; tshark -T fields ${tshark.toFixed(2)} s, ${Math.round(PACKETS / tshark)} pkt/s; ${
          (tshark / r.seconds).toFixed(2)
        }x tshark`
        : ""),
  );
}
