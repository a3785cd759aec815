/**
 * The NSD configuration that vigia's reference measurements use (the DNS
 * benchmark, the live capture benchmarks and the NSD differential test): one
 * server process, RRL off, no remote control, every file in one directory,
 * identity and version hidden (as vigia answers CH queries).
 *
 * @module
 */

/** Options for {@linkcode nsdConf}. */
export interface NsdConfOptions {
  /** Directory of the zone files and of NSD's own state files. */
  dir: string;
  /** UDP and TCP port on 127.0.0.1. @default 53 */
  port?: number;
  /**
   * Zones served: origin, zone file name inside `dir`, and more `zone:` lines
   * (`request-xfr: ...`, `provide-xfr: ...`) for transfer tests.
   */
  zones: { name: string; file: string; lines?: string[] }[];
  /** TSIG keys, declared before the zones that name them. */
  keys?: { name: string; algorithm: string; secret: string }[];
  /** NSD's log verbosity (2 logs transfers). @default 0 */
  verbosity?: number;
}

/** Renders `nsd.conf`. */
export function nsdConf(options: NsdConfOptions): string {
  const { dir, port = 53, zones, keys = [], verbosity = 0 } = options;
  return `server:
  ip-address: 127.0.0.1@${port}
  server-count: 1
  username: ""
  zonesdir: "${dir}"
  database: ""
  pidfile: "${dir}/nsd.pid"
  xfrdfile: "${dir}/xfrd.state"
  zonelistfile: "${dir}/zone.list"
  logfile: "${dir}/nsd.log"
  hide-version: yes
  hide-identity: yes
  rrl-ratelimit: 0
  verbosity: ${verbosity}
remote-control:
  control-enable: no
${
    keys.map((k) =>
      `key:\n  name: "${k.name}"\n  algorithm: ${k.algorithm}\n  secret: "${k.secret}"\n`
    )
      .join("")
  }${
    zones.map((z) =>
      `zone:\n  name: ${z.name}\n  zonefile: ${z.file}\n${
        (z.lines ?? []).map((l) => `  ${l}\n`).join("")
      }`
    ).join("")
  }`;
}
