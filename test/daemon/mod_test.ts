import assert from "node:assert/strict";
import { callControl, ControlError } from "../../lib/control/mod.ts";
import { repoRoot, runVigia, startDaemon, VIGIA_FLAGS } from "../_helpers.ts";

Deno.test("daemon: starts, answers ctl status as a table and as JSON, stops on ctl stop", async () => {
  const d = await startDaemon();
  try {
    const st = await Deno.stat(d.socketPath);
    assert.equal(st.mode! & 0o777, 0o660, "socket mode 0660");
    const human = await d.ctl(["status"]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^version\s+0\.1\.0$/m);
    assert.match(human.stdout, /^pid\s+\d+$/m);
    const json = await d.ctlJson(["status"]) as {
      pid: number;
      components: { name: string; state: string }[];
    };
    assert.equal(json.pid, d.pid);
    for (const c of json.components) {
      assert.equal(c.state, "disabled", `${c.name} disabled by the test config`);
    }
    const stats = await d.ctlJson(["stats"]) as { store: { rowsWritten: number } };
    assert.equal(typeof stats.store.rowsWritten, "number");
  } finally {
    const code = await d.stop();
    assert.equal(code, 0);
  }
  await assert.rejects(Deno.stat(d.socketPath), "socket removed at exit");
});

Deno.test("daemon: SIGTERM stops it cleanly within 5 s and removes the socket", async () => {
  const d = await startDaemon();
  const t0 = performance.now();
  d.signal("SIGTERM");
  assert.equal(await d.exited(5000), 0);
  assert.ok(performance.now() - t0 < 5000);
  await assert.rejects(Deno.stat(d.socketPath));
  assert.match(d.logs(), /stopping reason=SIGTERM/);
  await d.stop();
});

Deno.test("daemon: reload applies a valid config and keeps the old one when the new one is invalid", async () => {
  const d = await startDaemon({ config: '[log]\nlevel = "info"\n' });
  try {
    const good = await Deno.readTextFile(d.configPath);
    await Deno.writeTextFile(d.configPath, good.replace('level = "info"', 'level = "debug"'));
    const ok = await d.ctl(["reload"]);
    assert.equal(ok.code, 0, ok.stderr);
    await Deno.writeTextFile(d.configPath, good.replace('level = "info"', 'level = "loud"'));
    const bad = await d.ctl(["reload"]);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /config invalid, kept the running one: .*vigia\.toml:\d+:9: log\.level: expected one of/,
    );
    // SIGHUP with the same bad file: logged, still running.
    d.signal("SIGHUP");
    await d.waitForLog(/reload: config invalid; keeping the running config/);
    const st = await d.ctlJson(["status"]) as { reloads: { ok: number; failed: number } };
    assert.equal(st.reloads.ok, 1);
    assert.equal(st.reloads.failed, 2);
  } finally {
    assert.equal(await d.stop(), 0);
  }
});

Deno.test("daemon: a second daemon on the same socket refuses to start; a stale socket is replaced", async () => {
  const d = await startDaemon();
  try {
    const second = await runVigia(["run", "--config", d.configPath], { cwd: d.dir });
    assert.equal(second.code, 1);
    assert.match(second.stderr, /another vigia is running: its control socket .* answers/);
    // The first daemon still answers.
    assert.equal((await d.ctl(["status"])).code, 0);
  } finally {
    await d.stop();
  }
  // A socket file left behind by a killed daemon.
  const e = await startDaemon();
  const config = await Deno.readTextFile(e.configPath);
  e.signal("SIGKILL");
  await e.exited(5000);
  await Deno.stat(e.socketPath); // still there: nobody removed it
  await Deno.writeTextFile(`${e.dir}/again.toml`, config);
  const dir = e.dir;
  const third = await startDaemonFrom(dir, `${dir}/again.toml`);
  try {
    assert.match(third.logs, /removing stale control socket/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs a daemon on an existing config until ready, then stops it; returns its stderr. */
async function startDaemonFrom(cwd: string, configPath: string): Promise<{ logs: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...VIGIA_FLAGS, `${repoRoot}/main.ts`, "run", "--config", configPath],
    cwd,
    stderr: "piped",
    stdout: "null",
  }).spawn();
  let logs = "";
  const dec = new TextDecoder();
  for await (const chunk of child.stderr) {
    logs += dec.decode(chunk);
    if (/\bready\b/.test(logs)) break;
  }
  // startDaemon writes absolute paths, so the logged socket path is absolute.
  const socket = /socket=(\S+)/.exec(logs)![1];
  await callControl({ path: socket }, "stop").catch(() => child.kill("SIGTERM"));
  child.stderr.cancel().catch(() => {});
  const status = await child.status;
  assert.equal(status.code, 0);
  return { logs };
}

Deno.test("daemon: control protocol errors are answered, not fatal", async () => {
  const d = await startDaemon({
    config: '[control]\nmax_request_bytes = 2048\nrequest_timeout = "500ms"\n',
  });
  try {
    await assert.rejects(callControl({ path: d.socketPath }, "no such verb"), (e) => {
      assert.ok(e instanceof ControlError);
      assert.match(e.message, /unknown verb "no such verb"; known: .*status/);
      return true;
    });
    // An oversized request line gets one error line and the connection closes.
    const conn = await Deno.connect({ transport: "unix", path: d.socketPath });
    await conn.write(new TextEncoder().encode("x".repeat(10_000)));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    assert.match(new TextDecoder().decode(buf.subarray(0, n!)), /request larger than 2048 bytes/);
    conn.close();
    // A client that sends nothing is dropped after the request timeout.
    const idle = await Deno.connect({ transport: "unix", path: d.socketPath });
    const m = await idle.read(buf);
    assert.match(new TextDecoder().decode(buf.subarray(0, m!)), /timed out after 500 ms/);
    idle.close();
    // Garbage JSON gets an error and the same connection keeps working.
    const c2 = await Deno.connect({ transport: "unix", path: d.socketPath });
    await c2.write(new TextEncoder().encode('not json\n{"id":7,"verb":"status"}\n'));
    let text = "";
    while (text.split("\n").length < 3) {
      const k = await c2.read(buf);
      if (k === null) break;
      text += new TextDecoder().decode(buf.subarray(0, k));
    }
    const [first, second] = text.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(first.ok, false);
    assert.match(first.error, /bad request/);
    assert.equal(second.ok, true);
    assert.equal(second.id, 7);
    c2.close();
    // The daemon is still healthy.
    assert.equal((await d.ctl(["status"])).code, 0);
  } finally {
    await d.stop();
  }
});

Deno.test("daemon: journald priority prefixes when JOURNAL_STREAM is set", async () => {
  const d = await startDaemon({ env: { JOURNAL_STREAM: "8:12345" } });
  try {
    assert.match(d.logs(), /^<6>ready version=/m);
  } finally {
    await d.stop();
  }
});

Deno.test("cli: usage errors exit 2, an unreachable daemon exits 1, config check exits 0/1", async () => {
  const usage = await runVigia(["ctl", "frobnicate"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /Unknown argument|name a verb|Unknown/);
  const badValue = await runVigia([
    "ctl",
    "--socket",
    "/nonexistent/control.sock",
    "logs",
    "--kind",
    "bogus",
  ]);
  assert.equal(badValue.code, 2);
  assert.match(badValue.stderr, /--kind must be one of dns, dhcp: got "bogus"/);
  assert.doesNotMatch(badValue.stderr, /cannot reach/, "a usage error never runs the command");
  const none = await runVigia(["ctl", "--socket", "/nonexistent/control.sock", "status"]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /cannot reach vigia at \/nonexistent\/control\.sock: no socket there/);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/bad.toml`, "[paths]\nstate_dir = 5\n[lgo]\n");
  const bad = await runVigia(["config", "check", "--config", `${dir}/bad.toml`]);
  assert.equal(bad.code, 1);
  assert.equal(
    bad.stderr.trim(),
    `${dir}/bad.toml:2:13: paths.state_dir: expected a string, found number 5\n${dir}/bad.toml:3:1: lgo: unknown key "lgo" (did you mean "log"?)`,
  );
  const viaEnv = await runVigia(["config", "check"], { env: { VIGIA_CONFIG: `${dir}/bad.toml` } });
  assert.equal(viaEnv.code, 1, "$VIGIA_CONFIG names the config when --config is absent");
  const good = await runVigia(["config", "check"]);
  assert.equal(good.code, 0, good.stderr);
  const version = await runVigia(["--version"]);
  assert.equal(version.stdout.trim(), "0.1.0");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("daemon: events older than store.retention_days are pruned", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-prune-" });
  const config =
    `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n[store]\nretention_days = 7\n`;
  const first = await startDaemon({ config });
  await first.stop();
  // The stop removed the first daemon's temp dir, not ours: the store is still there.
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(`${dir}/lib/vigia.db`);
  const insert = db.prepare(
    "INSERT INTO alerts (time, raised_at, kind, severity, subject, details) VALUES (?, ?, 'x', 'info', ?, '{}')",
  );
  // Alerts age by the time raised (an old capture's alerts, raised now, are kept).
  insert.run(Date.now() - 30 * 86_400_000, Date.now() - 30 * 86_400_000, "old");
  insert.run(Date.now() - 30 * 86_400_000, Date.now(), "raised now");
  insert.run(Date.now(), Date.now(), "new");
  db.close();
  const second = await startDaemon({ config });
  try {
    // Each table's count: one old alert, no events of the other tables.
    const line = await second.waitForLog(/pruned old events /);
    assert.match(line, /\balerts=1\b/);
    assert.match(line, /\bevents=0\b/);
    assert.match(line, /\bveridns_events=0\b/);
    assert.match(line, /\bretention_days=7\b/);
    const rows = await second.ctlJson(["alerts"]) as { subject: string; time: string }[];
    assert.deepEqual(rows.map((r) => r.subject).sort(), ["new", "raised now"]);
    // Alert times read like the daily files: local time with its offset.
    assert.match(rows[0].time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$/);
  } finally {
    await second.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config check: a GeoIP path written in the config must exist when a reader is enabled", async () => {
  const dir = await Deno.makeTempDir();
  const text = (enabled: boolean) =>
    `[geoip]\ncity_db = "${dir}/typo-City.mmdb"\n[veridns]\nenabled = ${enabled}\n[scanner]\nenabled = false\n[dns]\nenabled = false\n`;
  await Deno.writeTextFile(`${dir}/on.toml`, text(true));
  await Deno.writeTextFile(`${dir}/off.toml`, text(false));
  const on = await runVigia(["config", "check", "--config", `${dir}/on.toml`]);
  assert.equal(on.code, 1);
  assert.match(
    on.stderr,
    new RegExp(
      `on\\.toml:2:11: geoip\\.city_db: ${dir}/typo-City\\.mmdb: no such file \\(read by veridns\\)`,
    ),
  );
  const off = await runVigia(["config", "check", "--config", `${dir}/off.toml`]);
  assert.equal(off.code, 0, off.stderr);
  await Deno.remove(dir, { recursive: true });
});
