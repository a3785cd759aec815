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
  /** Zones served: origin and zone file name inside `dir`. */
  zones: { name: string; file: string }[];
}

/** Renders `nsd.conf`. */
export function nsdConf(options: NsdConfOptions): string {
  const { dir, port = 53, zones } = options;
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
  verbosity: 0
remote-control:
  control-enable: no
${zones.map((z) => `zone:\n  name: ${z.name}\n  zonefile: ${z.file}\n`).join("")}`;
}
