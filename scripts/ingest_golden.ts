/**
 * Writes what `vigia ingest` produces for every capture in a folder — the
 * daily files, the ingest summary and `ctl logs --json` / `ctl devices
 * --json` of a daemon started on the result — into one output folder, so
 * two builds can be compared byte for byte:
 *
 * ```sh
 * git stash; deno run -A scripts/ingest_golden.ts /tmp/before; git stash pop
 * deno run -A scripts/ingest_golden.ts /tmp/after && diff -r /tmp/before /tmp/after
 * ```
 *
 * Usage: `deno run -A scripts/ingest_golden.ts OUT_DIR [CAPTURE_DIR]`
 * (CAPTURE_DIR defaults to `../shared/testdata/pcap`).
 *
 * `deno run -A scripts/ingest_golden.ts --compare BEFORE AFTER` compares two
 * such folders: daily and alerts files byte for byte; the ingest summary
 * key by key (keys only AFTER has are listed); `ctl logs` and `ctl devices`
 * rows after applying to BEFORE the changes the README documents ("Changes
 * from earlier versions of `ctl logs --json`", the final `next_cursor` line
 * of paged verbs). It prints every remaining difference and exits 1 when
 * there is one.
 *
 * @module
 */

const repo = new URL("..", import.meta.url).pathname;
const FLAGS = [
  "run",
  "--quiet",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--allow-ffi",
  `${repo}main.ts`,
];

async function vigia(
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, ...args],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** A `ctl` query, retried a few times (a loaded machine may be slow to answer); throws if it keeps failing. */
async function query(args: string[], cwd: string): Promise<string> {
  let last = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await vigia(args, cwd);
    if (r.code === 0) return r.stdout;
    last = r.stderr.trim();
    await new Promise((done) => setTimeout(done, 2000));
  }
  throw new Error(`vigia ${args.join(" ")} kept failing: ${last}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Ingests one capture into a fresh state and writes its outputs under `out`. */
async function golden(capture: string, out: string): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-golden-" });
  const config = `${dir}/vigia.toml`;
  await Deno.writeTextFile(
    config,
    `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n` +
      `[log]\ntimezone = "UTC"\nretention_days = 0\n[store]\nretention_days = 0\n` +
      `[alerts.mail]\nenabled = false\n` +
      `[sniffer]\nenabled = false\n[dns]\nenabled = false\n[veridns]\nenabled = false\n` +
      `[scanner]\nenabled = false\n`,
  );
  await Deno.mkdir(out, { recursive: true });
  const ingest = await vigia(["ingest", capture, "--config", config, "--json"], dir);
  let summary: Record<string, unknown> = { exit: ingest.code };
  try {
    const r = JSON.parse(ingest.stdout) as Record<string, unknown>;
    delete r.seconds;
    delete r.packets_per_second;
    delete r.file;
    summary = { exit: ingest.code, ...r };
  } catch { /* a refused file prints no JSON */ }
  await Deno.writeTextFile(`${out}/ingest.json`, JSON.stringify(summary, null, 1) + "\n");
  if (await exists(`${dir}/log`)) {
    for await (const e of Deno.readDir(`${dir}/log`)) {
      if (e.isFile) await Deno.copyFile(`${dir}/log/${e.name}`, `${out}/${e.name}`);
    }
  }
  const daemon = new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, "run", "--config", config],
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const socket = `${dir}/run/control.sock`;
    // Bounded, but generous: a daemon start takes long on a loaded machine.
    for (let i = 0; i < 2400 && !(await exists(socket)); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const ctl = ["ctl", "--config", config];
    const logs = await query([...ctl, "logs", "--json", "--limit", "10000", "--sort", "time"], dir);
    await Deno.writeTextFile(`${out}/ctl-logs.jsonl`, logs);
    const devices = await query([...ctl, "devices", "--json"], dir);
    await Deno.writeTextFile(`${out}/ctl-devices.jsonl`, devices);
    await vigia([...ctl, "stop"], dir);
  } finally {
    // A stop lost on a loaded machine must not hang the run: SIGTERM, then SIGKILL, bounded.
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      const exited = await Promise.race([
        daemon.status.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 20_000)),
      ]);
      if (exited) break;
      try {
        daemon.kill(signal);
      } catch { /* exited meanwhile */ }
    }
    await daemon.status;
    await Deno.remove(dir, { recursive: true });
  }
}

type Row = Record<string, unknown>;

/** A `ctl logs` row of BEFORE with the documented changes of `ctl logs --json` applied. */
function documentedLogRow(row: Row): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) {
    if (k === "flags" && typeof v === "string") {
      const set = new Set(v.split(" "));
      for (const f of ["AA", "TC", "RD", "RA"]) out[f] = set.has(f);
    } else if (k === "opcode" && typeof v === "string") {
      const names: Record<string, number> = {
        QUERY: 0,
        IQUERY: 1,
        STATUS: 2,
        NOTIFY: 4,
        UPDATE: 5,
      };
      out[k] = names[v] ?? Number(v.replace(/^OPCODE/, ""));
    } else if (k === "proto" && row.kind === "dhcp") continue;
    else if (k === "vendor" && v === "") continue;
    else out[k] = v;
  }
  return out;
}

/** Canonical text of a row (keys sorted: the README documents DHCP key order changes). */
function canonical(row: Row): string {
  return JSON.stringify(Object.fromEntries(Object.entries(row).sort(([a], [b]) => a < b ? -1 : 1)));
}

function jsonLines(text: string): Row[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Row);
}

async function readOr(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

/** Differences between two golden folders that the README does not document. */
export async function compareGolden(before: string, after: string): Promise<string[]> {
  const problems: string[] = [];
  const notes: string[] = [];
  const names = [...Deno.readDirSync(before)].filter((e) => e.isDirectory).map((e) => e.name)
    .sort();
  for (const name of names) {
    const a = `${before}/${name}`, b = `${after}/${name}`;
    const filesA = new Set([...Deno.readDirSync(a)].map((e) => e.name));
    let filesB: Set<string>;
    try {
      filesB = new Set([...Deno.readDirSync(b)].map((e) => e.name));
    } catch {
      problems.push(`${name}: missing in ${after}`);
      continue;
    }
    for (const f of [...filesA].filter((f) => f.endsWith(".log")).sort()) {
      const x = await readOr(`${a}/${f}`), y = await readOr(`${b}/${f}`);
      if (y === undefined) problems.push(`${name}/${f}: missing after`);
      else if (x !== y) {
        const lx = x!.split("\n"), ly = y.split("\n");
        for (let i = 0; i < Math.max(lx.length, ly.length); i++) {
          if (lx[i] !== ly[i]) {
            problems.push(`${name}/${f}:${i + 1}:\n  - ${lx[i] ?? ""}\n  + ${ly[i] ?? ""}`);
          }
        }
      }
    }
    for (const f of [...filesB].filter((f) => !filesA.has(f)).sort()) {
      notes.push(`${name}: only after: ${f}`);
    }
    const ia = JSON.parse((await readOr(`${a}/ingest.json`)) ?? "{}") as Row;
    const ib = JSON.parse((await readOr(`${b}/ingest.json`)) ?? "{}") as Row;
    for (const [k, v] of Object.entries(ia)) {
      if (JSON.stringify(ib[k]) !== JSON.stringify(v)) {
        problems.push(
          `${name}/ingest.json: ${k}: ${JSON.stringify(v)} -> ${JSON.stringify(ib[k])}`,
        );
      }
    }
    const added = Object.keys(ib).filter((k) => !(k in ia));
    if (added.length) notes.push(`${name}/ingest.json: keys added: ${added.join(", ")}`);
    for (
      const [file, fix] of [["ctl-logs.jsonl", documentedLogRow], [
        "ctl-devices.jsonl",
        (r: Row) => r,
      ]] as const
    ) {
      const ra = jsonLines((await readOr(`${a}/${file}`)) ?? "").map(fix);
      const rb = jsonLines((await readOr(`${b}/${file}`)) ?? "");
      // Paged verbs end with {"next_cursor": null} (README: paging).
      const last = rb[rb.length - 1];
      if (last && Object.keys(last).length === 1 && last.next_cursor === null) rb.pop();
      for (let i = 0; i < Math.max(ra.length, rb.length); i++) {
        const x = ra[i] ? canonical(ra[i]) : "", y = rb[i] ? canonical(rb[i]) : "";
        if (x !== y) problems.push(`${name}/${file}: row ${i + 1}:\n  - ${x}\n  + ${y}`);
      }
    }
  }
  for (const n of notes) console.log(`note: ${n}`);
  return problems;
}

if (import.meta.main && Deno.args[0] === "--compare") {
  const [, before, after] = Deno.args;
  if (!before || !after) {
    console.error("usage: deno run -A scripts/ingest_golden.ts --compare BEFORE AFTER");
    Deno.exit(2);
  }
  const problems = await compareGolden(before, after);
  for (const p of problems) console.log(p);
  console.log(`${problems.length} difference(s) not documented as changes of ctl logs / paging`);
  Deno.exit(problems.length ? 1 : 0);
} else if (import.meta.main) {
  const [out, captures = `${repo}../shared/testdata/pcap`] = Deno.args;
  if (!out) {
    console.error("usage: deno run -A scripts/ingest_golden.ts OUT_DIR [CAPTURE_DIR]");
    Deno.exit(2);
  }
  const names = [...Deno.readDirSync(captures)]
    .filter((e) => e.isFile && /\.pcap(ng)?$/.test(e.name))
    .map((e) => e.name)
    .sort();
  for (const name of names) {
    await golden(`${captures}/${name}`, `${out}/${name}`);
    console.log(name);
  }
}
