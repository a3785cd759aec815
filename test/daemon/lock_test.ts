/**
 * One daemon per state and log directory: a second one with its own
 * runtime_dir is refused, naming the first one's PID; `vigia ingest` beside
 * the running daemon still works and its rows reach the shared store.
 */

import assert from "node:assert/strict";
import { runVigia, startDaemon } from "../_helpers.ts";
import { dnsPair, T0, writePcap } from "../sniffer/_fixtures.ts";
import { lockDirectories } from "../../lib/daemon/lock.ts";

Deno.test("lock: a second daemon on the same state_dir and log_dir exits naming the first PID; ingest stays possible", async () => {
  const d = await startDaemon({ config: `[log]\ntimezone = "UTC"\n` });
  try {
    const locked = await Deno.readTextFile(`${d.dir}/lib/vigia.lock`);
    assert.equal(locked.trim(), String(d.pid));
    // Same store and logs, its own runtime_dir: the sockets do not collide, the lock does.
    const second = (await Deno.readTextFile(d.configPath)).replace(
      `runtime_dir = "${d.dir}/run"`,
      `runtime_dir = "${d.dir}/run2"`,
    );
    assert.notEqual(second, await Deno.readTextFile(d.configPath));
    await Deno.writeTextFile(`${d.dir}/second.toml`, second);
    const r = await runVigia(["run", "--config", `${d.dir}/second.toml`], { cwd: d.dir });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `another vigia \\(PID ${d.pid}\\) is already running on paths.state_dir = "${d.dir}/lib"`,
      ),
    );
    // Only the log directory shared: refused too.
    const logOnly = second.replace(`state_dir = "${d.dir}/lib"`, `state_dir = "${d.dir}/lib2"`);
    await Deno.writeTextFile(`${d.dir}/third.toml`, logOnly);
    const r3 = await runVigia(["run", "--config", `${d.dir}/third.toml`], { cwd: d.dir });
    assert.equal(r3.code, 1, r3.stderr);
    assert.match(r3.stderr, new RegExp(`\\(PID ${d.pid}\\) is already running on paths.log_dir`));
    // The first one is untouched.
    assert.equal((await d.ctl(["status"])).code, 0);

    // vigia ingest on the same store while the daemon runs: it works, the daemon sees the rows.
    const capture = await writePcap(
      d.dir,
      "t.pcap",
      dnsPair({
        ts: T0,
        clientMac: "3c:22:fb:00:00:01",
        clientIp: "10.0.0.2",
        serverIp: "10.0.0.1",
        id: 7,
        qname: "beside.example",
      }),
    );
    const ingest = await runVigia(["ingest", capture, "--config", d.configPath], { cwd: d.dir });
    assert.equal(ingest.code, 0, ingest.stderr);
    const rows = await d.ctlJson(["logs", "--day", "2026-11-21"]) as { query?: string }[];
    assert.equal(rows.filter((x) => x.query === "beside.example").length, 2);
    // And the daemon still holds its lock.
    assert.equal((await Deno.readTextFile(`${d.dir}/lib/vigia.lock`)).trim(), String(d.pid));
  } finally {
    assert.equal(await d.stop(), 0);
  }
});

Deno.test("lock: released when the holder lets go; one directory named twice is locked once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-lock-" });
  try {
    const a = lockDirectories([["paths.state_dir", dir], ["paths.log_dir", `${dir}/.`]]);
    assert.equal(a.paths.length, 1);
    a.release();
    const b = lockDirectories([["paths.state_dir", dir]]);
    b.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
