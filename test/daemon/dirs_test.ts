/**
 * `[paths]` directories that cannot be created or written fail `config
 * check` and the daemon's start with a message in vigia's words, naming the
 * key and its FILE:LINE:COL, never the runtime's own error text.
 */

import assert from "node:assert/strict";
import { runVigia } from "../_helpers.ts";
import { directoryProblem } from "../../lib/daemon/dirs.ts";

Deno.test("paths: a state_dir under /proc or a log_dir that is a file fails check and start", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-dirs-" });
  try {
    await Deno.writeTextFile(`${dir}/a-file`, "");
    const config = `${dir}/v.toml`;
    await Deno.writeTextFile(
      config,
      `[paths]\nstate_dir = "/proc/nope"\nlog_dir = "${dir}/a-file/log"\nruntime_dir = "${dir}/run"\n` +
        "[dns]\nenabled = false\n[veridns]\nenabled = false\n[scanner]\nenabled = false\n" +
        "[sniffer]\nenabled = false\n",
    );
    const check = await runVigia(["config", "check", "--config", config]);
    assert.equal(check.code, 1, check.stderr);
    const lines = check.stderr.trim().split("\n");
    assert.deepEqual(lines, [
      `${config}:2:13: paths.state_dir: cannot use /proc/nope: vigia does not touch system paths such as /proc, /sys and /dev`,
      `${config}:3:11: paths.log_dir: cannot create ${dir}/a-file/log: ${dir}/a-file is not a directory`,
    ]);
    const run = await runVigia(["run", "--config", config], { cwd: dir });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /paths\.state_dir: cannot use \/proc\/nope/);
    assert.doesNotMatch(run.stderr, /os error|NotFound|mkdir '/);
    // What passes: a directory that exists, and one that can be made (nothing is left behind).
    assert.equal(directoryProblem(dir), undefined);
    assert.equal(directoryProblem(`${dir}/new/deeper`), undefined);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["a-file", "v.toml"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
