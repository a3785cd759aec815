/**
 * Real NSD and Knot started in temp dirs on loopback as secondaries of a
 * vigia under test (TSIG-keyed transfers and NOTIFY), and a bounded wait
 * for what a peer answers.
 *
 * @module
 */

import { nsdConf } from "../../scripts/nsd_conf.ts";
import { freeDnsPort } from "./_harness.ts";

/** A peer process under test. */
export interface Peer {
  /** Its port on 127.0.0.1. */
  port: number;
  /** Its temp dir. */
  dir: string;
  /** Its log so far (for failure messages). */
  log(): Promise<string>;
  /** Stops it and removes the dir. */
  stop(): Promise<void>;
}

/** Whether a program is on this machine. */
export function hasProgram(name: string): boolean {
  for (const dir of ["/usr/sbin", "/usr/bin", ...(Deno.env.get("PATH") ?? "").split(":")]) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return true;
    } catch { /* not here */ }
  }
  return false;
}

/** The key the peers share with vigia. */
export interface PeerKey {
  /** Key name, absolute. */
  name: string;
  /** Algorithm. */
  algorithm: string;
  /** Base64 secret. */
  secret: string;
}

/** Starts NSD as a secondary of `zone` from vigia at 127.0.0.1:`primaryPort`. */
export async function startNsdSecondary(
  zone: string,
  options: { primaryPort: number; key: PeerKey; port?: number },
): Promise<Peer> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-nsd2-" });
  const port = options.port ?? await freeDnsPort();
  const { key, primaryPort } = options;
  await Deno.writeTextFile(
    `${dir}/nsd.conf`,
    nsdConf({
      dir,
      port,
      verbosity: 2,
      keys: [key],
      zones: [{
        name: zone,
        file: "secondary.zone",
        lines: [
          `request-xfr: 127.0.0.1@${primaryPort} ${key.name}`,
          `allow-notify: 127.0.0.1 ${key.name}`,
        ],
      }],
    }),
  );
  const child = new Deno.Command("nsd", {
    args: ["-d", "-c", `${dir}/nsd.conf`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return peer(child, port, dir, `${dir}/nsd.log`);
}

/** Starts Knot as a secondary of `zone` from vigia at 127.0.0.1:`primaryPort`. */
export async function startKnotSecondary(
  zone: string,
  options: { primaryPort: number; key: PeerKey; port?: number },
): Promise<Peer> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-knot2-" });
  const port = options.port ?? await freeDnsPort();
  const { key, primaryPort } = options;
  await Deno.writeTextFile(
    `${dir}/knot.conf`,
    `server:
    rundir: "${dir}"
    listen: 127.0.0.1@${port}
log:
  - target: "${dir}/knot.log"
    any: debug
database:
    storage: "${dir}"
control:
    listen: "${dir}/knot.sock"
key:
  - id: ${key.name}
    algorithm: ${key.algorithm}
    secret: ${key.secret}
remote:
  - id: vigia
    address: 127.0.0.1@${primaryPort}
    key: ${key.name}
acl:
  - id: notify_from_vigia
    address: 127.0.0.1
    key: ${key.name}
    action: notify
zone:
  - domain: ${zone}
    storage: "${dir}"
    file: "secondary.zone"
    master: vigia
    acl: notify_from_vigia
    journal-content: changes
`,
  );
  const child = new Deno.Command("knotd", {
    args: ["-c", `${dir}/knot.conf`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return peer(child, port, dir, `${dir}/knot.log`);
}

function peer(child: Deno.ChildProcess, port: number, dir: string, logFile: string): Peer {
  return {
    port,
    dir,
    log: () => Deno.readTextFile(logFile).catch(() => "(no log)"),
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 3000);
      await child.status;
      clearTimeout(timer);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Asks `dig +short` at `port` every 50 ms until `accept(answer)` holds or
 * `timeoutMs` pass (a peer says nothing when its copy changes, so asking is
 * the only event there is); returns the time taken, or throws.
 */
export async function waitForAnswer(
  port: number,
  question: { name: string; type: string },
  options: { accept: (answer: string) => boolean; timeoutMs: number; what: string },
): Promise<number> {
  const t0 = performance.now();
  let last = "";
  while (performance.now() - t0 < options.timeoutMs) {
    const out = await new Deno.Command("dig", {
      args: [
        "@127.0.0.1",
        "-p",
        String(port),
        "+time=1",
        "+tries=1",
        "+short",
        question.name,
        question.type,
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    last = new TextDecoder().decode(out.stdout).trim();
    if (options.accept(last)) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `${options.what}: no matching answer within ${options.timeoutMs} ms (last: "${last}")`,
  );
}

/** Starts NSD as the primary of `zone` (file `zoneFile` in a new dir), providing it to 127.0.0.1 with `key` and notifying vigia. */
export async function startNsdPrimary(
  zone: string,
  options: { zoneText: string; key: PeerKey; notifyPort: number; port?: number },
): Promise<Peer & { setZone(text: string): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-nsdp-" });
  const port = options.port ?? await freeDnsPort();
  const { key } = options;
  await Deno.writeTextFile(`${dir}/primary.zone`, options.zoneText);
  await Deno.writeTextFile(
    `${dir}/nsd.conf`,
    nsdConf({
      dir,
      port,
      verbosity: 2,
      keys: [key],
      zones: [{
        name: zone,
        file: "primary.zone",
        lines: [
          `provide-xfr: 127.0.0.1 ${key.name}`,
          `notify: 127.0.0.1@${options.notifyPort} ${key.name}`,
        ],
      }],
    }),
  );
  const child = new Deno.Command("nsd", {
    args: ["-d", "-c", `${dir}/nsd.conf`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    ...peer(child, port, dir, `${dir}/nsd.log`),
    // NSD re-reads changed zone files on SIGHUP and then notifies its secondaries.
    setZone: async (text) => {
      await Deno.writeTextFile(`${dir}/primary.zone`, text);
      child.kill("SIGHUP");
    },
  };
}

/** Starts Knot as the primary of `zone`, changed with `knotc` transactions (journalled, so IXFR). */
export async function startKnotPrimary(
  zone: string,
  options: { zoneText: string; key: PeerKey; notifyPort: number; port?: number },
): Promise<Peer & { knotc(...args: string[]): Promise<string> }> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-knotp-" });
  const port = options.port ?? await freeDnsPort();
  const { key } = options;
  await Deno.writeTextFile(`${dir}/primary.zone`, options.zoneText);
  await Deno.writeTextFile(
    `${dir}/knot.conf`,
    `server:
    rundir: "${dir}"
    listen: 127.0.0.1@${port}
log:
  - target: "${dir}/knot.log"
    any: info
database:
    storage: "${dir}"
control:
    listen: "${dir}/knot.sock"
key:
  - id: ${key.name}
    algorithm: ${key.algorithm}
    secret: ${key.secret}
remote:
  - id: vigia
    address: 127.0.0.1@${options.notifyPort}
    key: ${key.name}
acl:
  - id: transfer_to_vigia
    address: 127.0.0.1
    key: ${key.name}
    action: transfer
zone:
  - domain: ${zone}
    storage: "${dir}"
    file: "primary.zone"
    notify: vigia
    acl: transfer_to_vigia
    journal-content: changes
    zonefile-sync: -1
    serial-policy: increment
`,
  );
  const child = new Deno.Command("knotd", {
    args: ["-c", `${dir}/knot.conf`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    ...peer(child, port, dir, `${dir}/knot.log`),
    knotc: async (...args) => {
      const out = await new Deno.Command("knotc", {
        args: ["-s", `${dir}/knot.sock`, ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      if (!out.success) throw new Error(`knotc ${args.join(" ")}: ${text}`);
      return text;
    },
  };
}
