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

async function vigia(args: string[], cwd: string): Promise<{ code: number; stdout: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, ...args],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
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
    for (let i = 0; i < 300 && !(await exists(socket)); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const ctl = ["ctl", "--config", config];
    const logs = await vigia([...ctl, "logs", "--json", "--limit", "10000", "--sort", "time"], dir);
    await Deno.writeTextFile(`${out}/ctl-logs.jsonl`, logs.stdout);
    const devices = await vigia([...ctl, "devices", "--json"], dir);
    await Deno.writeTextFile(`${out}/ctl-devices.jsonl`, devices.stdout);
    await vigia([...ctl, "stop"], dir);
  } finally {
    await daemon.status;
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
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
