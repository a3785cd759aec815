/**
 * scripts/build.ts (`deno task compile`): it compiles with exactly the flags
 * the tests run the daemon with, embeds every worker and data file the code
 * opens through `new URL(..., import.meta.url)`, says why when there is no
 * denort runtime (exit 3), refuses a runtime that does not give a vigia, and
 * — when a denort is available — builds `dist/vigia` and runs it:
 * `--version`, `config check`, a short `run` with `ctl status` and `ctl stop`.
 */

import assert from "node:assert/strict";
import { COMPONENT_SECTIONS, freePort, repoRoot, VIGIA_FLAGS } from "../_helpers.ts";
import { EXIT_NO_DENORT, findDenort, readVigiaTask, runtimeIncludes } from "../../scripts/build.ts";
import { VERSION } from "../../lib/daemon/mod.ts";

const lookup = findDenort();
if (!lookup.found) {
  console.log(
    "SKIP: compiling dist/vigia: no denort runtime (deno compile would download it; this machine cannot):\n" +
      lookup.tried.map((t) => `  - ${t}`).join("\n") +
      "\n  Set DENORT_BIN=/path/to/denort (same deno version) to run the compiled-binary tests.",
  );
}

const dec = new TextDecoder();

async function build(output: string, env: Record<string, string> = {}) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${repoRoot}/scripts/build.ts`, "--output", output],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

Deno.test("build: compiles with exactly the permission flags the tests run the daemon with", () => {
  const { flags, entry } = readVigiaTask();
  assert.equal(entry, "main.ts");
  assert.deepEqual([...flags].sort(), [...VIGIA_FLAGS].sort());
  assert.ok(!flags.includes("--allow-all") && !flags.includes("-A"), "never --allow-all");
});

Deno.test("build: refuses a vigia task it cannot take apart", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ tasks: { vigia: "deno run -A main.ts | tee x" } }),
    );
    assert.throws(() => readVigiaTask(dir), /shell syntax/);
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ tasks: { vigia: "deno test main.ts" } }),
    );
    assert.throws(() => readVigiaTask(dir), /deno run FLAGS/);
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ tasks: {} }));
    assert.throws(() => readVigiaTask(dir), /no "vigia" task/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build: every module that starts a Worker has its worker file embedded", async () => {
  const includes = await runtimeIncludes();
  const starters: string[] = [];
  async function walk(dir: string) {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.name.endsWith(".ts") && /new Worker\(/.test(await Deno.readTextFile(p))) {
        starters.push(p);
      }
    }
  }
  await walk(`${repoRoot}/lib`);
  for (const file of starters) {
    const rel = file.slice(repoRoot.length + 1);
    assert.ok(
      includes.some((i) => i.from.startsWith(`${rel}:`) && /\.(ts|js)$/.test(i.path)),
      `${rel} starts a Worker but build.ts embeds no module it names with new URL(..., import.meta.url); ` +
        `includes: ${JSON.stringify(includes)}`,
    );
  }
  for (const i of includes) assert.ok(!i.path.startsWith(".."), i.path);
  console.log(
    `${starters.length} worker starter(s); embedded: ${
      includes.map((i) => i.path).join(", ") || "none"
    }`,
  );
});

Deno.test("build: the include scan finds new URL(..., import.meta.url) targets and skips missing ones", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/lib/x`, { recursive: true });
    await Deno.writeTextFile(`${dir}/main.ts`, "");
    await Deno.writeTextFile(`${dir}/lib/x/w.ts`, "");
    await Deno.writeTextFile(`${dir}/lib/x/data.bin`, "");
    await Deno.writeTextFile(
      `${dir}/lib/x/mod.ts`,
      `new Worker(new URL("./w.ts", import.meta.url), { type: "module" });\n` +
        `const d = await Deno.readFile(new URL('./data.bin', import.meta.url));\n` +
        `new URL("./gone.ts", import.meta.url); new URL("npm:x", import.meta.url);\n`,
    );
    const inc = await runtimeIncludes(dir);
    assert.deepEqual(inc.map((i) => i.path), ["lib/x/data.bin", "lib/x/w.ts"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "build: without a denort it says why and exits 3",
  ignore: !!lookup.found,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const r = await build(`${dir}/vigia`);
      assert.equal(r.code, EXIT_NO_DENORT, r.out);
      assert.match(r.out, /no denort runtime/);
      assert.match(r.out, /DENORT_BIN/);
      assert.ok(
        !(await Deno.stat(`${dir}/vigia`).then(() => true, () => false)),
        "no output written",
      );
      // Pointing DENORT_BIN at the deno CLI is reported, not used (it would build a `deno`, not a vigia).
      const self = await build(`${dir}/vigia`, { DENORT_BIN: Deno.execPath() });
      assert.equal(self.code, EXIT_NO_DENORT, self.out);
      assert.match(self.out, /that is the deno CLI, not denort/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "build: a DENORT_BIN that is not denort gives exit 1 and no binary",
  ignore: !(await Deno.stat("/bin/true").then((s) => s.isFile, () => false)),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // Any ELF executable is accepted by deno compile as a base; the result then is not vigia.
      await Deno.copyFile("/bin/true", `${dir}/not-denort`);
      const r = await build(`${dir}/vigia`, { DENORT_BIN: `${dir}/not-denort` });
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /does not behave as vigia/);
      assert.ok(
        !(await Deno.stat(`${dir}/vigia`).then(() => true, () => false)),
        "bad binary removed",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function runBinary(bin: string, args: string[], cwd: string) {
  const r = await new Deno.Command(bin, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

Deno.test({
  name: "compiled dist/vigia: --version, config check, run + ctl status + ctl stop",
  ignore: !lookup.found,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vigia-compiled-" });
    const bin = `${repoRoot}/dist/vigia`;
    try {
      const b = await build(bin);
      assert.equal(b.code, 0, b.out);

      const v = await runBinary(bin, ["--version"], dir);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(v.stdout.trim(), VERSION);

      const ref = await runBinary(bin, [
        "config",
        "check",
        "--config",
        `${repoRoot}/config/vigia.toml`,
      ], dir);
      assert.equal(ref.code, 0, ref.stderr);
      assert.match(ref.stdout, /: ok/);
      await Deno.writeTextFile(`${dir}/bad.toml`, "[paths]\nstate_dir = 5\n");
      const bad = await runBinary(bin, ["config", "check", "--config", `${dir}/bad.toml`], dir);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /bad\.toml:2:\d+/);

      // Every registered component that can run unprivileged on loopback, on free ports.
      let config =
        `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n`;
      for (const name of COMPONENT_SECTIONS) {
        if (name === "dns" || name === "veridns") {
          config += `\n[${name}]\nenabled = true\nlisten = ["127.0.0.1:${freePort()}"]\n`;
        } else config += `\n[${name}]\nenabled = false\n`;
      }
      await Deno.writeTextFile(`${dir}/vigia.toml`, config);
      const daemon = new Deno.Command(bin, {
        args: ["run", "--config", `${dir}/vigia.toml`],
        cwd: dir,
        stdout: "null",
        stderr: "piped",
        stdin: "null",
      }).spawn();
      const logText = new Response(daemon.stderr).text();
      const socket = `${dir}/run/control.sock`;
      let status: { code: number; stdout: string; stderr: string } | undefined;
      for (let i = 0; i < 100; i++) {
        status = await runBinary(bin, ["ctl", "--socket", socket, "--json", "status"], dir);
        if (status.code === 0) break;
        await new Promise((r) => setTimeout(r, 100)); // polling a process we cannot subscribe to
      }
      assert.equal(status!.code, 0, status!.stderr);
      const st = JSON.parse(status!.stdout);
      assert.equal(st.version, VERSION);
      for (const c of st.components) {
        if (c.enabled) assert.equal(c.state, "running", JSON.stringify(c));
      }
      const stop = await runBinary(bin, ["ctl", "--socket", socket, "stop"], dir);
      assert.equal(stop.code, 0, stop.stderr);
      const exit = await daemon.status;
      const log = await logText;
      assert.equal(exit.code, 0, log);
      assert.match(log, /\bstopped\b/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
