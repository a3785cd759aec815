/**
 * `vigia ctl` as a user runs it: every verb derived from the verb specs,
 * usage errors (exit 2, one message style) for every verb, paged `--json`
 * output with its final `next_cursor` line and `--all`, and the messages
 * for a wrong `--socket`, a broken config and `--remote` without a token.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { components } from "../../lib/app/mod.ts";
import { verbCatalogue } from "../../lib/daemon/mod.ts";
import { runVigia, startDaemon } from "../_helpers.ts";

const catalogue = verbCatalogue(components);
const paged = catalogue.verbs.filter((v) => v.output === "paged");

Deno.test("ctl: the paged verbs are the ones the README names", () => {
  assert.deepEqual(paged.map((v) => v.name).sort(), [
    "alerts",
    "devices",
    "logs",
    "scan results",
    "veridns events",
  ]);
});

Deno.test("ctl: bad values are usage errors (exit 2) in one message style, before anything is sent", async () => {
  // No daemon and no socket: a usage error must be reported as such, never "cannot reach".
  const socket = ["--socket", "/nonexistent/control.sock"];
  const cases: [string[], RegExp][] = [
    ...paged.map((v): [string[], RegExp] => [
      [...v.name.split(" "), "--limit", "abc"],
      /--limit must be an integer from 1 to 10000: got "abc"/,
    ]),
    [["logs", "--limit", "0"], /--limit must be an integer from 1 to 10000: got "0"/],
    [["scan", "results", "--history", "abc"], /--history must be an integer from 0 to 100000/],
    [["logs", "--since", "bogus"], /--since must be an age \(90m, 2h, 7d, 2w\), a date/],
    [["alerts", "--since", "bogus"], /--since must be an age/],
    [["veridns", "events", "--until", "bogus"], /--until must be an age/],
    [["logs", "--day", "2026-13-45"], /--day must be a real date YYYY-MM-DD: got "2026-13-45"/],
    [["logs", "--kind", "arp"], /--kind must be one of dns, dhcp: got "arp"/],
  ];
  for (const [args, message] of cases) {
    const r = await runVigia(["ctl", ...socket, ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(" "));
    assert.match(r.stderr, new RegExp(`^vigia ctl ${args.filter((a) => !a.startsWith("-"))[0]}`));
    assert.doesNotMatch(r.stderr, /cannot reach/, args.join(" "));
  }
});

Deno.test("ctl: a directory given as --socket and --remote without --token-file get vigia's words", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const asDir = await runVigia(["ctl", "--socket", dir, "status"]);
    assert.equal(asDir.code, 1);
    assert.match(asDir.stderr, /it is a directory; --socket names the socket file itself/);
    assert.doesNotMatch(asDir.stderr, /stale/);
    const remote = await runVigia(["ctl", "--remote", "127.0.0.1:1", "status"]);
    assert.equal(remote.code, 2);
    assert.match(remote.stderr, /--remote needs --token-file FILE/);
    assert.doesNotMatch(remote.stderr, /Implications failed/);
    const lone = await runVigia(["ctl", "--token-file", `${dir}/t`, "status"]);
    assert.equal(lone.code, 2);
    assert.match(lone.stderr, /--token-file goes with --remote/);
    const both = await runVigia(["ctl", "--remote", "h:1", "--socket", "x", "status"]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--remote and --socket exclude each other/);
    assert.doesNotMatch(both.stderr, /mutually exclusive/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config check names the file it checked, also through $VIGIA_CONFIG", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/vigia.toml`;
    await Deno.writeTextFile(path, '[log]\nlevel = "warn"\n');
    const viaEnv = await runVigia(["config", "check"], { env: { VIGIA_CONFIG: path } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(viaEnv.stdout.trim(), `${path}: ok`);
    const embedded = await runVigia(["config", "check"], { env: { VIGIA_CONFIG: "" } });
    assert.equal(embedded.stdout.trim(), "<embedded>: ok");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ctl: paged --json ends with next_cursor, --all streams every page; a broken config still finds the socket", async () => {
  const d = await startDaemon();
  try {
    // Three alerts and three verifications, written as the daemon's store would hold them.
    const db = new DatabaseSync(`${d.dir}/lib/vigia.db`);
    db.exec("PRAGMA busy_timeout = 5000");
    const now = Date.now();
    for (let i = 0; i < 3; i++) {
      db.prepare(
        `INSERT INTO alerts (time, raised_at, kind, severity, subject, details)
           VALUES (?, ?, 'test', 'info', ?, '{}')`,
      ).run(now - i * 1000, now - i * 1000, `a${i}`);
      db.prepare(
        `INSERT INTO veridns_events (time, client, domain, reported, malicious, verified, decision,
           answered, failed) VALUES (?, '127.0.0.1', ?, '', '', 1, 'resolvers', '', '')`,
      ).run(now - i * 1000, `d${i}.test`);
    }
    db.close();
    for (const verb of [["alerts"], ["veridns", "events"]]) {
      const r = await d.ctl(["--json", ...verb, "--limit", "2"]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(lines.length, 3, r.stdout);
      const cursor = lines[2].next_cursor;
      assert.equal(typeof cursor, "string", r.stdout);
      const rest = await d.ctl(["--json", ...verb, "--limit", "2", "--cursor", cursor]);
      const restLines = rest.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(restLines.length, 2, rest.stdout);
      assert.deepEqual(restLines[1], { next_cursor: null });
      const all = await d.ctl(["--json", ...verb, "--limit", "1", "--all"]);
      const allLines = all.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(allLines.length, 4, all.stdout);
      assert.deepEqual(allLines[3], { next_cursor: null });
      const names = allLines.slice(0, 3).map((l) => l.subject ?? l.domain);
      assert.deepEqual(
        names,
        verb[0] === "alerts" ? ["a0", "a1", "a2"] : ["d0.test", "d1.test", "d2.test"],
      );
      // For people: a table, and the next page's cursor on stderr.
      const text = await d.ctl([...verb, "--limit", "2"]);
      assert.match(text.stderr, /^more: --cursor \S+$/m);
    }

    // A cursor only the daemon can judge: refused there, still a usage error.
    const badCursor = await d.ctl(["alerts", "--cursor", "garbage"]);
    assert.equal(badCursor.code, 2, badCursor.stderr);
    assert.match(badCursor.stderr, /--cursor must be a cursor printed by an earlier page/);

    // The config on disk gets a bad edit while the daemon runs: ctl still reaches it.
    const broken = `${d.dir}/broken.toml`;
    const runtimeDir = d.socketPath.slice(0, d.socketPath.lastIndexOf("/"));
    await Deno.writeTextFile(
      broken,
      `[paths]\nruntime_dir = "${runtimeDir}"\n[log]\nlevel = "info\n`,
    );
    const status = await runVigia(["ctl", "--config", broken, "--json", "status"]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).socket, d.socketPath);
    assert.match(status.stderr, /warning: .*broken\.toml does not load \(.*broken\.toml:4:/);
    assert.match(status.stderr, /using the socket .*control\.sock from its paths\.runtime_dir/);
    // Nothing of [paths] parses: the default socket, and the message says so.
    await Deno.writeTextFile(broken, `[paths\nruntime_dir = "${runtimeDir}"\n`);
    const fallback = await runVigia(["ctl", "--config", broken, "status"], { cwd: d.dir });
    assert.match(fallback.stderr, /of the default paths\.runtime_dir/);
  } finally {
    await d.stop();
  }
});
