/**
 * Test helpers for the packaging tests: read systemd/vigia.service, turn its
 * sandbox settings into what systemd 252 would apply (syscall allow list,
 * address families, capabilities), and build `sandbox_exec` (a small C
 * launcher that installs those seccomp rules) so that tests can run vigia
 * under the unit's rules without a running systemd.
 *
 * @module
 */

import { hasCommand, repoRoot } from "../_helpers.ts";

/** The unit file of the repository. */
export const unitPath = `${repoRoot}/systemd/vigia.service`;

/** A unit file as ordered `key → values` per section (a key may repeat). */
export type Unit = Map<string, Map<string, string[]>>;

/** Parses a systemd unit file (no line continuations are used in ours). */
export function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1];
      if (!unit.has(section)) unit.set(section, new Map());
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0) throw new Error(`not a key=value line in unit: ${line}`);
    const key = line.slice(0, eq).trim();
    const values = unit.get(section)!;
    values.set(key, [...(values.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** Every value of `[Service] key`, in order. */
export function serviceValues(unit: Unit, key: string): string[] {
  return unit.get("Service")?.get(key) ?? [];
}

/** The last value of `[Service] key` (systemd's rule for single-valued keys), or undefined. */
export function serviceValue(unit: Unit, key: string): string | undefined {
  const v = serviceValues(unit, key);
  return v.length ? v[v.length - 1] : undefined;
}

let groupCache: Map<string, string[]> | undefined;

/** The syscall groups systemd knows (`systemd-analyze syscall-filter`), unexpanded. */
export function syscallGroups(): Map<string, string[]> {
  if (groupCache) return groupCache;
  const out = new Deno.Command("systemd-analyze", {
    args: ["syscall-filter"],
    stdout: "piped",
    stderr: "null",
  })
    .outputSync();
  const groups = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    if (/^@[\w-]+$/.test(line)) {
      current = [];
      groups.set(line, current);
    } else if (current && /^\s+[@\w-]+$/.test(line)) {
      current.push(line.trim());
    }
  }
  if (!groups.has("@system-service")) {
    throw new Error("systemd-analyze syscall-filter listed no groups");
  }
  groupCache = groups;
  return groups;
}

/** Expands a syscall name or `@group` into syscall names. */
export function expandSyscalls(name: string, seen = new Set<string>()): string[] {
  if (!name.startsWith("@")) return [name];
  const members = syscallGroups().get(name);
  if (!members) throw new Error(`unknown syscall group ${name}`);
  if (seen.has(name)) return [];
  seen.add(name);
  return members.flatMap((m) => expandSyscalls(m, seen));
}

/**
 * The syscall allow list that systemd builds from the unit's SystemCallFilter=
 * lines, applied in order: an allow list starts from @default, a plain line
 * adds, a `~` line removes. Returns undefined when the unit sets no allow list.
 */
export function syscallAllowList(unit: Unit): Set<string> | undefined {
  const lines = serviceValues(unit, "SystemCallFilter");
  if (!lines.length || lines[0].startsWith("~")) return undefined;
  const allowed = new Set(expandSyscalls("@default"));
  for (const line of lines) {
    const invert = line.startsWith("~");
    for (const word of line.replace(/^~/, "").split(/\s+/).filter(Boolean)) {
      for (const s of expandSyscalls(word)) {
        if (invert) allowed.delete(s);
        else allowed.add(s);
      }
    }
  }
  return allowed;
}

const FAMILIES: Record<string, number> = {
  AF_UNIX: 1,
  AF_LOCAL: 1,
  AF_INET: 2,
  AF_INET6: 10,
  AF_NETLINK: 16,
  AF_PACKET: 17,
};

/** The address family numbers of RestrictAddressFamilies= (an allow list), or undefined. */
export function addressFamilies(unit: Unit): number[] | undefined {
  const value = serviceValue(unit, "RestrictAddressFamilies");
  if (!value) return undefined;
  if (value.startsWith("~")) {
    throw new Error("RestrictAddressFamilies= deny lists are not emulated");
  }
  return value.split(/\s+/).map((name) => {
    const n = FAMILIES[name];
    if (n === undefined) throw new Error(`address family ${name} unknown to the test`);
    return n;
  });
}

/** Capability names of a key (`CAP_NET_RAW CAP_NET_BIND_SERVICE` → `["net_raw", "net_bind_service"]`). */
export function capabilities(unit: Unit, key: string): string[] {
  return (serviceValue(unit, key) ?? "").split(/\s+/).filter(Boolean).map((c) =>
    c.replace(/^CAP_/, "").toLowerCase()
  );
}

/** True when a C compiler and libseccomp are there to build {@linkcode buildSandboxExec}. */
export function canBuildSandbox(): { ok: boolean; reason: string } {
  if (!hasCommand("cc")) return { ok: false, reason: "no C compiler (cc) to build sandbox_exec" };
  const lib = [
    "/usr/lib/x86_64-linux-gnu/libseccomp.so.2",
    "/lib/x86_64-linux-gnu/libseccomp.so.2",
  ];
  if (!lib.some(fileExists)) return { ok: false, reason: "libseccomp.so.2 not found" };
  if (Deno.build.arch !== "x86_64") {
    return { ok: false, reason: "sandbox_exec is written for x86_64" };
  }
  if (!hasCommand("systemd-analyze")) {
    return { ok: false, reason: "systemd-analyze missing (syscall groups)" };
  }
  return { ok: true, reason: "" };
}

function fileExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Compiles test/packaging/sandbox_exec.c into `dir` (mode 0755) and returns the executable's path. */
export async function buildSandboxExec(dir: string): Promise<string> {
  const out = `${dir}/sandbox_exec`;
  const r = await new Deno.Command("cc", {
    args: [
      "-O2",
      "-Wall",
      "-o",
      out,
      `${repoRoot}/test/packaging/sandbox_exec.c`,
      "-l:libseccomp.so.2",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!r.success) {
    throw new Error(`cc sandbox_exec.c failed: ${new TextDecoder().decode(r.stderr)}`);
  }
  await Deno.chmod(out, 0o755);
  return out;
}

/** Arguments of `sandbox_exec` that apply the unit's seccomp rules; writes the allow list into `dir`. */
export async function sandboxArgs(unit: Unit, dir: string): Promise<string[]> {
  const args: string[] = [];
  if (/^(yes|true|1|on)$/i.test(serviceValue(unit, "MemoryDenyWriteExecute") ?? "no")) {
    args.push("--mdwe");
  }
  const allow = syscallAllowList(unit);
  if (allow) {
    const file = `${dir}/syscalls.allow`;
    await Deno.writeTextFile(file, [...allow].sort().join("\n") + "\n");
    await Deno.chmod(file, 0o644);
    args.push("--syscalls", file);
  }
  const fams = addressFamilies(unit);
  if (fams) args.push("--families", fams.join(","));
  return args;
}
