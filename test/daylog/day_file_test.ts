/**
 * Daily files follow their path: moved or deleted (logrotate, `mv`, `rm`),
 * the next write opens a new file there; `reopen` does it at once. The
 * shipped logrotate snippet is accepted by `logrotate -d` and, run for real
 * on a temp copy, rotates files that vigia then recreates.
 */

import assert from "node:assert/strict";
import { DailyLog, DayFile } from "../../lib/daylog/mod.ts";
import { hasCommand, repoRoot, skipUnless } from "../_env.ts";

const enc = new TextEncoder();
const T = new Date("2026-11-21T12:00:00Z");

Deno.test("day file: a moved or deleted file is replaced by a new one at its path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-dayfile-" });
  try {
    const f = new DayFile(`${dir}/a.log`, { checkInterval: 0 });
    f.write(enc.encode("one\n"));
    await Deno.rename(`${dir}/a.log`, `${dir}/a.log.1`);
    f.write(enc.encode("two\n"));
    assert.equal(await Deno.readTextFile(`${dir}/a.log.1`), "one\n");
    assert.equal(await Deno.readTextFile(`${dir}/a.log`), "two\n");
    await Deno.remove(`${dir}/a.log`);
    f.write(enc.encode("three\n"));
    assert.equal(await Deno.readTextFile(`${dir}/a.log`), "three\n");
    assert.equal(f.reopened, 2);
    // Still the same file: appended, not reopened.
    f.write(enc.encode("four\n"));
    assert.equal(await Deno.readTextFile(`${dir}/a.log`), "three\nfour\n");
    assert.equal(f.reopened, 2);
    f.close();
    // Between checks the handle is kept (one stat per interval, not per line); reopen() is at once.
    const slow = new DayFile(`${dir}/b.log`, { checkInterval: 3_600_000 });
    slow.write(enc.encode("one\n"));
    await Deno.rename(`${dir}/b.log`, `${dir}/b.log.1`);
    slow.write(enc.encode("two\n"));
    assert.equal(await Deno.readTextFile(`${dir}/b.log.1`), "one\ntwo\n");
    slow.reopen();
    slow.write(enc.encode("three\n"));
    assert.equal(await Deno.readTextFile(`${dir}/b.log`), "three\n");
    slow.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("daily log: events and alerts files are reopened after mv/rm and on reopen()", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-dayfile-" });
  try {
    const log = new DailyLog({ dir, timeZone: "UTC", retentionDays: 0, checkInterval: 0 });
    log.alert("rogue-dhcp", { n: 1 }, T);
    log.flush();
    await Deno.rename(`${dir}/2026-11-21.log`, `${dir}/2026-11-21.log.1`);
    await Deno.remove(`${dir}/alerts-2026-11-21.log`);
    log.alert("rogue-dhcp", { n: 2 }, T);
    log.flush();
    assert.match(await Deno.readTextFile(`${dir}/2026-11-21.log.1`), /n=1\n$/);
    assert.match(await Deno.readTextFile(`${dir}/2026-11-21.log`), /^[^\n]*n=2\n$/);
    assert.match(await Deno.readTextFile(`${dir}/alerts-2026-11-21.log`), /^[^\n]*n=2\n$/);
    assert.equal(log.reopened, 2);
    // reopen(): buffered lines go to the old file first, the next ones to a new one.
    const slow = new DailyLog({ dir: `${dir}/s`, timeZone: "UTC", retentionDays: 0 });
    slow.event("x", { n: 1 }, T);
    slow.flush();
    await Deno.rename(`${dir}/s/2026-11-21.log`, `${dir}/s/old.log`);
    slow.event("x", { n: 2 }, T);
    slow.reopen();
    slow.event("x", { n: 3 }, T);
    await slow.close();
    assert.match(await Deno.readTextFile(`${dir}/s/old.log`), /n=1\n.*n=2\n$/);
    assert.match(await Deno.readTextFile(`${dir}/s/2026-11-21.log`), /^[^\n]*n=3\n$/);
    await log.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("logrotate: the shipped snippet passes logrotate -d and rotates a temp copy for real", async () => {
  if (skipUnless(hasCommand("logrotate"), "logrotate is not installed")) return;
  const snippet = `${repoRoot}/config/logrotate/vigia`;
  const dir = await Deno.makeTempDir({ prefix: "vigia-logrotate-" });
  try {
    const run = async (args: string[]) => {
      const r = await new Deno.Command("logrotate", { args, stdout: "piped", stderr: "piped" })
        .output();
      return { code: r.code, text: new TextDecoder().decode(r.stderr) };
    };
    const debug = await run(["-d", "-s", `${dir}/state`, snippet]);
    assert.equal(debug.code, 0, debug.text);
    assert.doesNotMatch(debug.text, /error/i);
    assert.match(debug.text, /rotating pattern: \/var\/log\/vigia\/\*\.log/);

    // The same rules on a temp directory, forced; postrotate stands in for `vigia ctl reopen`.
    const text = (await Deno.readTextFile(snippet))
      .replaceAll("/var/log/vigia/", `${dir}/log/`)
      .replace(/^\s*\/usr\/local\/bin\/vigia ctl .*$/m, `        touch ${dir}/postrotate-ran`);
    await Deno.writeTextFile(`${dir}/conf`, text);
    await Deno.chmod(`${dir}/conf`, 0o644);
    const log = new DailyLog({ dir: `${dir}/log`, timeZone: "UTC", retentionDays: 0 });
    log.event("x", { n: 1 }, T);
    log.flush();
    await Deno.chmod(`${dir}/log`, 0o750);
    const forced = await run(["-f", "-s", `${dir}/state`, `${dir}/conf`]);
    assert.equal(forced.code, 0, forced.text);
    await Deno.stat(`${dir}/postrotate-ran`);
    const names = [...Deno.readDirSync(`${dir}/log`)].map((e) => e.name).sort();
    assert.deepEqual(names, ["2026-11-21.log.1.gz"]);
    log.reopen(); // what postrotate's `vigia ctl reopen` does
    log.event("x", { n: 2 }, T);
    await log.close();
    assert.match(await Deno.readTextFile(`${dir}/log/2026-11-21.log`), /^[^\n]*n=2\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
