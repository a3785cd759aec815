/**
 * systemd/vigia.service, vigia.sysusers.conf, vigia.tmpfiles.conf: what the
 * unit promises (user, commands, capabilities, directories), that
 * `systemd-analyze verify` accepts it without a single warning, and that
 * `systemd-analyze security --offline=true` scores its exposure at most 2.0.
 */

import assert from "node:assert/strict";
import { hasCommand, repoRoot } from "../_helpers.ts";
import {
  capabilities,
  parseUnit,
  serviceValue,
  serviceValues,
  syscallAllowList,
  unitPath,
} from "./_unit.ts";

const haveAnalyze = hasCommand("systemd-analyze");
if (!haveAnalyze) {
  console.log("SKIP: systemd-analyze is not installed: unit verify/security tests skipped");
}

const unitText = await Deno.readTextFile(unitPath);
const unit = parseUnit(unitText);

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

Deno.test("unit: runs as vigia, checks the config first, reloads by SIGHUP, restarts on failure", () => {
  assert.equal(serviceValue(unit, "User"), "vigia");
  assert.equal(serviceValue(unit, "Group"), "vigia");
  assert.equal(
    serviceValue(unit, "ExecStartPre"),
    "/usr/local/bin/vigia config check --config /etc/vigia/vigia.toml",
  );
  assert.equal(
    serviceValue(unit, "ExecStart"),
    "/usr/local/bin/vigia run --config /etc/vigia/vigia.toml",
  );
  assert.equal(serviceValue(unit, "ExecReload"), "/bin/kill -HUP $MAINPID");
  assert.equal(serviceValue(unit, "Restart"), "on-failure");
  for (
    const key of ["StateDirectory", "LogsDirectory", "RuntimeDirectory", "ConfigurationDirectory"]
  ) {
    assert.equal(serviceValue(unit, key), "vigia", key);
  }
});

Deno.test("unit: exactly CAP_NET_RAW and CAP_NET_BIND_SERVICE, ambient and bounding", () => {
  const want = ["net_bind_service", "net_raw"];
  assert.deepEqual(capabilities(unit, "AmbientCapabilities").sort(), want);
  assert.deepEqual(capabilities(unit, "CapabilityBoundingSet").sort(), want);
  assert.equal(serviceValues(unit, "AmbientCapabilities").length, 1);
  assert.equal(serviceValues(unit, "CapabilityBoundingSet").length, 1);
  assert.equal(serviceValue(unit, "NoNewPrivileges"), "yes");
});

Deno.test("unit: sandbox keeps what vigia needs and leaves V8's JIT alone", () => {
  assert.deepEqual(
    serviceValue(unit, "RestrictAddressFamilies")!.split(/\s+/).sort(),
    ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_UNIX"],
  );
  // MemoryDenyWriteExecute=yes makes deno panic (sandbox_test.ts proves it).
  assert.doesNotMatch(serviceValue(unit, "MemoryDenyWriteExecute") ?? "no", /^(yes|true|1|on)$/i);
  // Capabilities must act on the host's network namespace.
  assert.doesNotMatch(
    serviceValue(unit, "PrivateUsers") ?? "no",
    /^(yes|true|1|on|self|identity)$/i,
  );
  assert.equal(serviceValue(unit, "PrivateNetwork") ?? "no", "no");
});

Deno.test({
  name:
    "unit: the syscall allow list keeps what deno, sqlite and libpcap call, and drops setuid/setrlimit",
  ignore: !haveAnalyze,
  fn() {
    const allow = syscallAllowList(unit)!;
    assert.ok(allow, "the unit sets a SystemCallFilter= allow list");
    for (
      const s of [
        "mmap",
        "mprotect",
        "futex",
        "epoll_wait",
        "socket",
        "setsockopt",
        "ioctl",
        "poll",
      ]
    ) {
      assert.ok(allow.has(s), `${s} allowed`);
    }
    // The daemon chowns its socket only when the group differs; under the unit it never does.
    for (
      const s of [
        "setuid",
        "setresuid",
        "capset",
        "setrlimit",
        "sched_setaffinity",
        "mount",
        "bpf",
        "fchown",
        "fchownat",
      ]
    ) {
      assert.ok(!allow.has(s), `${s} refused`);
    }
  },
});

/** Copies the unit into `dir` with its binary paths pointing at an executable stub there. */
async function unitWithStub(dir: string, text = unitText): Promise<string> {
  const stub = `${dir}/vigia`;
  await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n");
  await Deno.chmod(stub, 0o755);
  const path = `${dir}/vigia.service`;
  await Deno.writeTextFile(path, text.replaceAll("/usr/local/bin/vigia", stub));
  return path;
}

Deno.test({
  name: "unit: systemd-analyze verify passes with no warning (binary path pointed at a stub)",
  ignore: !haveAnalyze,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vigia-unit-" });
    try {
      const path = await unitWithStub(dir);
      const r = await run("systemd-analyze", ["verify", path]);
      assert.equal(r.code, 0, r.out);
      assert.equal(r.out.trim(), "", `verify printed warnings:\n${r.out}`);
      // The check itself is able to fail: a misspelt key is reported.
      const bad = await unitWithStub(dir, unitText.replace("PrivateTmp=yes", "PrivateTmpp=yes"));
      const r2 = await run("systemd-analyze", ["verify", bad]);
      assert.match(r2.out, /Unknown key 'PrivateTmpp'/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "unit: systemd-analyze security --offline=true exposure is at most 2.0",
  ignore: !haveAnalyze,
  async fn() {
    const r = await run("systemd-analyze", ["security", "--offline=true", unitPath]);
    const m = /Overall exposure level for vigia\.service: (\d+\.\d)/.exec(r.out);
    assert.ok(m, `no exposure line in:\n${r.out}`);
    const exposure = Number(m[1]);
    console.log(
      `systemd-analyze security --offline=true systemd/vigia.service: exposure ${exposure}`,
    );
    assert.ok(exposure <= 2.0, `exposure ${exposure} > 2.0:\n${r.out}`);
    // systemd's own threshold check agrees (its scale is exposure × 10).
    const t = await run("systemd-analyze", [
      "security",
      "--offline=true",
      "--threshold=20",
      unitPath,
    ]);
    assert.equal(t.code, 0, t.out);
  },
});

Deno.test({
  name: "sysusers/tmpfiles: create the vigia user and its directories under a scratch root",
  ignore: !hasCommand("systemd-sysusers") || !hasCommand("systemd-tmpfiles") || Deno.uid() !== 0,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "vigia-sysroot-" });
    try {
      await Deno.mkdir(`${root}/etc`);
      const su = await run("systemd-sysusers", [
        `--root=${root}`,
        `${repoRoot}/systemd/vigia.sysusers.conf`,
      ]);
      assert.equal(su.code, 0, su.out);
      const passwd = await Deno.readTextFile(`${root}/etc/passwd`);
      const entry = passwd.split("\n").find((l) => l.startsWith("vigia:"));
      assert.ok(entry, `no vigia user in ${passwd}`);
      const [, , uid, gid, , home, shell] = entry.split(":");
      assert.ok(Number(uid) > 0 && Number(uid) < 1000, `system uid, got ${uid}`);
      assert.match(
        await Deno.readTextFile(`${root}/etc/group`),
        new RegExp(`^vigia:x:${gid}:`, "m"),
      );
      assert.equal(home, "/var/lib/vigia");
      assert.equal(shell, "/usr/sbin/nologin");

      const tf = await run("systemd-tmpfiles", [
        `--root=${root}`,
        "--create",
        `${repoRoot}/systemd/vigia.tmpfiles.conf`,
      ]);
      assert.equal(tf.code, 0, tf.out);
      for (
        const [dir, mode] of [["var/lib/vigia", 0o750], ["var/log/vigia", 0o750], [
          "run/vigia",
          0o750,
        ]] as const
      ) {
        const st = await Deno.stat(`${root}/${dir}`);
        assert.ok(st.isDirectory, dir);
        assert.equal(st.mode! & 0o7777, mode, `${dir} mode`);
        assert.equal(st.uid, Number(uid), `${dir} owned by vigia`);
        assert.equal(st.gid, Number(gid), `${dir} group vigia`);
      }
      assert.equal((await Deno.stat(`${root}/etc/vigia`)).mode! & 0o7777, 0o755);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
