/**
 * The `dns` component: an authoritative DNS server for the zones in the
 * config, on UDP and TCP, with NSD 4 as the reference for what it answers.
 *
 * Layout (as NSD cuts it): `wire.ts` + `rdata.ts` know bytes; `zone_file.ts`
 * reads RFC 1035 master files; `zone_db.ts` holds and checks zones;
 * `answer.ts` decides answers (pure, testable without sockets); `engine.ts`
 * is the hot path (pre-encoded answers patched in place, rate limiting,
 * counters); `udp_worker.ts`/`udp_fast.ts` (FFI recvmmsg/sendmmsg in
 * workers), `udp_portable.ts` and `tcp.ts` move packets; `server.ts` ties it
 * together; `sources.ts` and `verbs.ts` handle the zone sources and the
 * `ctl zone` verbs.
 *
 * Zone sources, merged: `[[dns.zone]]` tables in the config, the
 * `dns.zone_files` master files, and the zone table edited live with
 * `vigia ctl zone add|del` (no restart: the running server rebuilds at once;
 * edits from other processes and zone file changes are noticed within
 * `dns.table_poll`).
 *
 * ## Deliberate differences from NSD 4.6
 * The differential test (`test/dns/nsd_diff_test.ts`) compares rcode, flags
 * and the record sets of every section with NSD for a few hundred queries;
 * these differences are intended and excluded there:
 * - Zone transfers (AXFR/IXFR) are not offered: REFUSED over TCP (NSD
 *   serves them to addresses its ACL allows). Over UDP both answer alike.
 * - NOTIFY is REFUSED (vigia is nobody's secondary); NSD does the same for
 *   zones without a `allow-notify` entry.
 * - CH-class queries (`version.bind`, `id.server`, ...) are REFUSED as NSD
 *   does with `hide-version: yes` and `hide-identity: yes`; vigia has no
 *   option to reveal them.
 * - No DNSSEC processing: DNSSEC records can be served as plain data, but
 *   the DO bit adds no RRSIG/NSEC. No NSID, cookies (RFC 7873) or TSIG: EDNS
 *   options in queries are ignored, as NSD does without them configured.
 * - When an answer does not fit the UDP size, NSD may keep some records of
 *   the additional section that vigia leaves out whole RRset by RRset; both
 *   set TC only when the answer or a mandatory authority does not fit.
 * - Response rate limiting is on by default (NSD compiles it in but leaves
 *   `rrl-ratelimit` at 200 only when enabled); its buckets are token
 *   buckets per /24 (IPv4) or /56 (IPv6) and answer class, and slipped
 *   answers carry no OPT record.
 * - DNAME has no special meaning (served as plain data in `\#` form), and
 *   `$GENERATE` is not read.
 *
 * @example
 * ```ts ignore
 * import { dnsModule } from "./mod.ts";
 * const server = dnsModule.create(context); // context.section is the [dns] section
 * await server.start();
 * console.log(server.stats?.());
 * await server.stop();
 * ```
 *
 * @module
 */

import type { ConfigCheck } from "../config/mod.ts";
import type { AnyConfig, ComponentModule } from "../daemon/types.ts";
import { type DnsConfig, dnsSection } from "./config.ts";
import { DnsServer } from "./server.ts";
import { configRecords, dnsMigrations, fileRecords } from "./sources.ts";
import { dnsVerbs } from "./verbs.ts";
import { buildZoneDb } from "./zone_db.ts";
import type { ZoneProblem } from "./zone_file.ts";

export { type DnsConfig, dnsSection } from "./config.ts";
export { DnsServer, type ZoneLoad } from "./server.ts";
export { dnsMigrations } from "./sources.ts";
export { dnsVerbs } from "./verbs.ts";

/**
 * `config check` for `[dns]`: zone files readable and well formed (FILE:LINE),
 * config records well formed (their key), and the zones sound: one SOA per
 * zone, NS at the apex, CNAME exclusivity, no data outside every zone, glue
 * for in-zone name servers, nothing but glue below a delegation.
 */
export const checkDnsZones: ConfigCheck<AnyConfig> = (config, report) => {
  const dns = config.dns as DnsConfig | undefined;
  if (!dns || !dns.enabled) return;
  const inline = configRecords(dns);
  const files = fileRecords(dns);
  const place = (p: ZoneProblem) => {
    if (p.file.startsWith("dns.")) {
      report(p.file, p.message);
      return;
    }
    const i = dns.zone_files.indexOf(p.file);
    const path = i >= 0 ? `dns.zone_files[${i}]` : "dns.zone_files";
    if (p.line > 0) report(path, p.message, { file: p.file, line: p.line, col: 1 });
    else report(path, `${p.file}: ${p.message}`);
  };
  for (const p of [...inline.problems, ...files.problems]) place(p);
  const { problems } = buildZoneDb([...inline.records, ...files.records]);
  for (const p of problems) place(p);
};

/** The `dns` component module, registered in `lib/app/mod.ts`. */
export const dnsModule: ComponentModule<DnsConfig> = {
  name: "dns",
  schema: dnsSection,
  checks: [checkDnsZones],
  enabled: (section) => section.enabled,
  migrations: dnsMigrations,
  create: (context) => new DnsServer(context),
  verbs: dnsVerbs,
};
