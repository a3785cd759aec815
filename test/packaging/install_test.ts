/**
 * scripts/install.sh into a DESTDIR: what lands where with which mode, the
 * prefix followed by the unit, idempotence, the user's config never
 * overwritten (the new reference goes to vigia.toml.new), and --uninstall
 * removing what it installed while keeping config and data. Uses dist/vigia
 * when it was built, else a stub executable.
 */

import assert from "node:assert/strict";
import { hasCommand, repoRoot } from "../_helpers.ts";

const script = `${repoRoot}/scripts/install.sh`;
const referenceConfig = `${repoRoot}/config/vigia.toml`;

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

const builtBinary = exists(`${repoRoot}/dist/vigia`) ? `${repoRoot}/dist/vigia` : undefined;
if (!builtBinary) console.log("NOTE: dist/vigia not built: install tests use a stub executable");

interface Scratch {
  dir: string;
  destdir: string;
  binary: string;
  config: string;
}

async function scratch(): Promise<Scratch> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-install-" });
  let binary = builtBinary;
  if (!binary) {
    binary = `${dir}/vigia-stub`;
    await Deno.writeTextFile(binary, "#!/bin/sh\necho 0.1.0\n");
    await Deno.chmod(binary, 0o755);
  }
  // The repository's reference config when there is one; else a stand-in.
  let config = referenceConfig;
  if (!exists(config)) {
    config = `${dir}/reference.toml`;
    await Deno.writeTextFile(config, '[paths]\nstate_dir = "/var/lib/vigia"\n');
  }
  return { dir, destdir: `${dir}/root`, binary, config };
}

async function install(s: Scratch, ...extra: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command("sh", {
    args: [
      script,
      "--destdir",
      s.destdir,
      "--binary",
      s.binary,
      "--config-source",
      s.config,
      ...extra,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { PREFIX: "", DESTDIR: "" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

/** Every file under `root` with its mode and content hash, to compare two states of a tree. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(dir: string) {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      const st = await Deno.lstat(p);
      let hash = "";
      if (e.isFile) {
        const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(p));
        hash = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
      }
      out.set(p.slice(root.length), `${(st.mode! & 0o7777).toString(8)} ${hash}`);
      if (e.isDirectory) await walk(p);
    }
  }
  await walk(root);
  return out;
}

function mode(path: string): number {
  return Deno.statSync(path).mode! & 0o7777;
}

const FILES = [
  "/usr/local/bin/vigia",
  "/usr/local/lib/systemd/system/vigia.service",
  "/usr/local/lib/sysusers.d/vigia.conf",
  "/usr/local/lib/tmpfiles.d/vigia.conf",
  "/usr/local/share/doc/vigia/vigia.toml.reference",
  "/usr/local/share/man/man8/vigia.8",
  "/usr/local/share/man/man5/vigia.toml.5",
  "/etc/vigia/vigia.toml",
];

Deno.test("install.sh: installs binary, unit, sysusers, tmpfiles and config with the right modes", async () => {
  const s = await scratch();
  try {
    const r = await install(s);
    assert.equal(r.code, 0, r.out);
    for (const f of FILES) assert.ok(exists(s.destdir + f), `${f} installed\n${r.out}`);
    assert.equal(mode(`${s.destdir}/usr/local/bin/vigia`), 0o755);
    assert.equal(mode(`${s.destdir}/usr/local/lib/systemd/system/vigia.service`), 0o644);
    assert.equal(mode(`${s.destdir}/etc/vigia/vigia.toml`), 0o640);
    assert.equal(mode(`${s.destdir}/etc/vigia`), 0o755);
    assert.deepEqual(
      await Deno.readFile(`${s.destdir}/usr/local/bin/vigia`),
      await Deno.readFile(s.binary),
    );
    assert.equal(
      await Deno.readTextFile(`${s.destdir}/etc/vigia/vigia.toml`),
      await Deno.readTextFile(s.config),
    );
    assert.equal(
      await Deno.readTextFile(`${s.destdir}/usr/local/lib/sysusers.d/vigia.conf`),
      await Deno.readTextFile(`${repoRoot}/systemd/vigia.sysusers.conf`),
    );
    const unit = await Deno.readTextFile(`${s.destdir}/usr/local/lib/systemd/system/vigia.service`);
    assert.match(
      unit,
      /^ExecStart=\/usr\/local\/bin\/vigia run --config \/etc\/vigia\/vigia\.toml$/m,
    );
    // Nothing was written outside DESTDIR: every path it names is under it.
    for (const line of r.out.split("\n").filter((l) => /installed /.test(l))) {
      assert.ok(exists(s.destdir + line.replace(/^install: installed /, "")), line);
    }
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("install.sh: --prefix /usr moves bin and lib, and the unit follows it", async () => {
  const s = await scratch();
  try {
    const r = await install(s, "--prefix", "/usr");
    assert.equal(r.code, 0, r.out);
    assert.ok(exists(`${s.destdir}/usr/bin/vigia`));
    assert.ok(!exists(`${s.destdir}/usr/local`), "nothing under /usr/local");
    const unit = await Deno.readTextFile(`${s.destdir}/usr/lib/systemd/system/vigia.service`);
    assert.match(
      unit,
      /^ExecStartPre=\/usr\/bin\/vigia config check --config \/etc\/vigia\/vigia\.toml$/m,
    );
    assert.match(unit, /^ExecStart=\/usr\/bin\/vigia run /m);
    assert.doesNotMatch(unit, /\/usr\/local\//);
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("install.sh: a second run changes nothing", async () => {
  const s = await scratch();
  try {
    assert.equal((await install(s)).code, 0);
    const before = await snapshot(s.destdir);
    const r = await install(s);
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /installed /, "second run installed nothing");
    assert.deepEqual(await snapshot(s.destdir), before);
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("install.sh: never overwrites an edited config; the new reference goes to vigia.toml.new", async () => {
  const s = await scratch();
  try {
    assert.equal((await install(s)).code, 0);
    const conf = `${s.destdir}/etc/vigia/vigia.toml`;
    const edited = (await Deno.readTextFile(conf)) + "\n# edited by the admin\n";
    await Deno.writeTextFile(conf, edited);
    const r = await install(s);
    assert.equal(r.code, 0, r.out);
    assert.equal(await Deno.readTextFile(conf), edited, "the admin's config is untouched");
    assert.equal(await Deno.readTextFile(`${conf}.new`), await Deno.readTextFile(s.config));
    assert.match(r.out, /vigia\.toml\.new/);
    // Upgrading the binary replaces it; the config still stays.
    const newer = `${s.dir}/vigia-newer`;
    await Deno.writeTextFile(newer, "#!/bin/sh\necho 0.2.0\n");
    await Deno.chmod(newer, 0o755);
    const up = await install({ ...s, binary: newer });
    assert.equal(up.code, 0, up.out);
    assert.equal(
      await Deno.readTextFile(`${s.destdir}/usr/local/bin/vigia`),
      "#!/bin/sh\necho 0.2.0\n",
    );
    assert.equal(await Deno.readTextFile(conf), edited);
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("install.sh --uninstall: removes what it installed, keeps config and data; twice is fine", async () => {
  const s = await scratch();
  try {
    assert.equal((await install(s)).code, 0);
    // Data the daemon made at run time.
    await Deno.mkdir(`${s.destdir}/var/lib/vigia`, { recursive: true });
    await Deno.writeTextFile(`${s.destdir}/var/lib/vigia/vigia.db`, "data");
    const r = await install(s, "--uninstall");
    assert.equal(r.code, 0, r.out);
    for (const f of FILES.filter((f) => !f.startsWith("/etc/"))) {
      assert.ok(!exists(s.destdir + f), `${f} removed`);
    }
    assert.ok(!exists(`${s.destdir}/usr/local/share/doc/vigia`), "doc dir removed");
    assert.ok(exists(`${s.destdir}/etc/vigia/vigia.toml`), "config kept");
    assert.equal(
      await Deno.readTextFile(`${s.destdir}/var/lib/vigia/vigia.db`),
      "data",
      "data kept",
    );
    const again = await install(s, "--uninstall");
    assert.equal(again.code, 0, again.out);
    assert.doesNotMatch(again.out, /removed /);
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("install.sh: refuses a missing binary and bad arguments with a reason", async () => {
  const s = await scratch();
  try {
    const missing = await install({ ...s, binary: `${s.dir}/nope` });
    assert.equal(missing.code, 1);
    assert.match(missing.out, /no binary at .*nope.*deno task compile/);
    assert.ok(!exists(`${s.destdir}/usr`), "nothing installed");
    const bad = await install(s, "--frobnicate");
    assert.equal(bad.code, 2);
    assert.match(bad.out, /unknown argument: --frobnicate/);
    const rel = await install(s, "--prefix", "usr");
    assert.equal(rel.code, 2);
    assert.match(rel.out, /absolute/);
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test({
  name: "install.sh: the installed unit passes systemd-analyze verify and security (≤ 2.0)",
  ignore: !hasCommand("systemd-analyze"),
  async fn() {
    const s = await scratch();
    try {
      assert.equal((await install(s)).code, 0);
      const unitPath = `${s.destdir}/usr/local/lib/systemd/system/vigia.service`;
      // verify checks that the binary exists: point it at the DESTDIR copy.
      const text = await Deno.readTextFile(unitPath);
      const staged = `${s.dir}/vigia.service`;
      await Deno.writeTextFile(
        staged,
        text.replaceAll("/usr/local/bin/vigia", `${s.destdir}/usr/local/bin/vigia`),
      );
      const v = await new Deno.Command("systemd-analyze", {
        args: ["verify", staged],
        stderr: "piped",
      }).output();
      const verr = new TextDecoder().decode(v.stderr);
      assert.equal(v.code, 0, verr);
      assert.equal(verr.trim(), "");
      const sec = await new Deno.Command("systemd-analyze", {
        args: ["security", "--offline=true", "--threshold=20", unitPath],
        stdout: "piped",
      }).output();
      assert.equal(sec.code, 0, new TextDecoder().decode(sec.stdout));
    } finally {
      await Deno.remove(s.dir, { recursive: true });
    }
  },
});
