/**
 * Log sealing benchmark (lib/daylog/seal.ts), against `sha256sum` (GNU
 * coreutils) and `openssl dgst -sha256` (SHA-NI where the CPU has it) over
 * the same bytes in the same run:
 *
 * - sealing one daily file of `--gb` GB (default 1): `LogSealer.seal`, the
 *   whole file hashed and one chained record appended (goal < 5 s);
 * - `verifyLogs` of `--days` days (default 90) of daily files of `--day-mb`
 *   MB each (default 50) plus a small alerts file per day, all sealed
 *   (goal < 30 s), and the same through `vigia logs verify` as a process.
 *
 * The files are generated into `.bench/seal/` (gitignored) once and reused;
 * they are in the page cache after the first round, as for `sha256sum`.
 *
 * Usage: deno run -A scripts/bench/seal.ts [--gb 1] [--days 90] [--day-mb 50] [--rounds 2] [--regen]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { LogSealer, SEAL_FILE, verifyLogs } from "../../lib/daylog/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    gb: { type: "string", default: "1" },
    days: { type: "string", default: "90" },
    "day-mb": { type: "string", default: "50" },
    rounds: { type: "string", default: "2" },
    regen: { type: "boolean", default: false },
  },
});
const GB = Number(values.gb);
const DAYS = Number(values.days);
const DAY_MB = Number(values["day-mb"]);
const ROUNDS = Number(values.rounds);
const root = new URL("../..", import.meta.url).pathname;
const base = `${root}.bench/seal`;
const bigDir = `${base}/big`;
const bigFile = "2026-11-01.log";
const daysDir = `${base}/days-${DAYS}x${DAY_MB}`;

/** Writes `bytes` of daily-log lines to `path`. */
async function writeLines(path: string, bytes: number, day: string): Promise<void> {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < 4 * 1024 * 1024; i++) {
    const line = `${day}T${String(Math.floor(i / 3600) % 24).padStart(2, "0")}:${
      String(Math.floor(i / 60) % 60).padStart(2, "0")
    }:${String(i % 60).padStart(2, "0")}.${
      String(i % 1000).padStart(3, "0")
    }-03:00\tdns\tmac=02:00:00:${
      (i % 256).toString(16).padStart(2, "0")
    }:00:01\tvendor=(locally administered)\tsrc_ip=10.0.${i % 256}.${i % 200}\tsrc_port=${
      1024 + (i % 60000)
    }\tdst_ip=10.0.0.1\tdst_port=53\tproto=udp\ttrans_id=${
      i % 65536
    }\tqr=Q\tquery=host${i}.example.org\tqtype_name=A\n`;
    lines.push(line);
    size += line.length;
  }
  const chunk = new TextEncoder().encode(lines.join(""));
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  for (let written = 0; written < bytes;) {
    const part = chunk.subarray(0, Math.min(chunk.length, bytes - written));
    await f.write(part);
    written += part.length;
  }
  f.close();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function timed(cmd: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
  return (performance.now() - t0) / 1000;
}

const sha256sum = (paths: string[]) => timed("sha256sum", paths);
const openssl = (paths: string[]) => timed("openssl", ["dgst", "-sha256", ...paths]);

await Deno.mkdir(bigDir, { recursive: true });
if (values.regen || !(await exists(`${bigDir}/${bigFile}`))) {
  await writeLines(`${bigDir}/${bigFile}`, GB * 1e9, "2026-11-01");
}
if (values.regen || !(await exists(`${daysDir}/${SEAL_FILE}`))) {
  await Deno.remove(daysDir, { recursive: true }).catch(() => {});
  await Deno.mkdir(daysDir, { recursive: true });
  const sealer = new LogSealer({ dir: daysDir });
  const start = Date.parse("2026-08-01T00:00:00Z");
  for (let d = 0; d < DAYS; d++) {
    const day = new Date(start + d * 86_400_000).toISOString().slice(0, 10);
    await writeLines(`${daysDir}/${day}.log`, DAY_MB * 1e6, day);
    await writeLines(`${daysDir}/alerts-${day}.log`, 20_000, day);
    await sealer.seal(`${day}.log`, "final");
    await sealer.seal(`alerts-${day}.log`, "final");
  }
}
const dayFiles = [...Deno.readDirSync(daysDir)].filter((e) => e.name.endsWith(".log")).map((e) =>
  `${daysDir}/${e.name}`
);
const bigSize = (await Deno.stat(`${bigDir}/${bigFile}`)).size;
let daysSize = 0;
for (const f of dayFiles) daysSize += (await Deno.stat(f)).size;
console.log(
  `seal: one ${
    (bigSize / 1e9).toFixed(2)
  } GB file; verify: ${DAYS} days, ${dayFiles.length} files, ${
    (daysSize / 1e9).toFixed(2)
  } GB; ${ROUNDS} rounds (after one warm-up read)`,
);
await sha256sum([`${bigDir}/${bigFile}`, ...dayFiles]); // warm the page cache

for (let r = 1; r <= ROUNDS; r++) {
  const ref1 = await sha256sum([`${bigDir}/${bigFile}`]);
  const ssl1 = await openssl([`${bigDir}/${bigFile}`]);
  await Deno.remove(`${bigDir}/${SEAL_FILE}`).catch(() => {});
  const t0 = performance.now();
  const record = await new LogSealer({ dir: bigDir }).seal(bigFile, "final");
  const seal = (performance.now() - t0) / 1000;
  if (record?.size !== bigSize) throw new Error("seal did not cover the file");

  const ref2 = await sha256sum(dayFiles);
  const ssl2 = await openssl(dayFiles);
  const t1 = performance.now();
  const report = await verifyLogs(daysDir);
  const verify = (performance.now() - t1) / 1000;
  if (report.problems.length > 0 || report.verified.length !== dayFiles.length) {
    throw new Error(`verify found problems: ${JSON.stringify(report.problems.slice(0, 3))}`);
  }
  const t2 = performance.now();
  const cli = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}main.ts`, "logs", "verify", "--dir", daysDir],
    stdout: "null",
    stderr: "piped",
  }).output();
  const verifyCli = (performance.now() - t2) / 1000;
  if (!cli.success) throw new Error(`vigia logs verify exited ${cli.code}`);
  console.log(
    `round ${r}: seal ${seal.toFixed(2)} s (sha256sum ${ref1.toFixed(2)} s, openssl ${
      ssl1.toFixed(2)
    } s: ${(seal / ssl1).toFixed(2)}x openssl) | verify ${
      verify.toFixed(2)
    } s, as \`vigia logs verify\` ${verifyCli.toFixed(2)} s (sha256sum ${
      ref2.toFixed(2)
    } s, openssl ${ssl2.toFixed(2)} s: ${(verify / ssl2).toFixed(2)}x openssl)`,
  );
}
