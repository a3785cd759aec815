/**
 * The `dns` component: an authoritative DNS server for the zones in the
 * config, on UDP and TCP, with NSD 4 as the reference for what it answers.
 *
 * Layout (as NSD cuts it): `wire.ts` + `rdata.ts` know bytes; `zone_file.ts`
 * reads RFC 1035 master files; `zone_db.ts` holds and checks zones;
 * `answer.ts` decides answers (pure, testable without sockets); `engine.ts`
 * is the hot path (pre-encoded answers patched in place, rate limiting,
 * counters); `udp_worker.ts`/`udp_fast.ts` (FFI recvmmsg/sendmmsg in
 * workers), `udp_portable.ts` and `tcp.ts` move packets; `component.ts` ties
 * it together; `sources.ts` merges the zone sources;
 * `xfr_out.ts` answers zone transfers, `xfr_in.ts` asks them and
 * `secondary.ts` follows secondary zones with them; `notify.ts` sends
 * NOTIFY. As in every component:
 * `config.ts` the `[dns]` section, `component.ts` the running component,
 * `schema.ts` its store migrations, `verbs.ts` its `ctl zone` verbs.
 *
 * Zone sources, merged: `[[dns.zone]]` tables in the config, the
 * `dns.zone_files` master files, and the zone table edited live with
 * `vigia ctl zone add|del` (no restart: the running server rebuilds at once;
 * edits from other processes and zone file changes are noticed within
 * `dns.table_poll`).
 *
 * ## Deliberate differences from NSD 4.6
 * The differential test (`test/dns/nsd_diff_test.ts`) serves the same zone
 * files from NSD (hide-version, hide-identity, RRL off) and from vigia and
 * compares rcode, header flags, the OPT record and the record set of every
 * section for 400+ queries over UDP and TCP: existing, missing, wildcard,
 * CNAME, delegation, ANY, odd letter case, EDNS on/off/DO/small sizes,
 * truncation, bad headers, bad OPT, other opcodes and classes. They all
 * agree, including NSD's quirks (FORMERR without the question, RD cleared
 * only for several questions, NOTIMP for AXFR over UDP, class ANY answered
 * without AA, EDE 20 on REFUSED). What differs on purpose:
 * - Zone transfers (AXFR, IXFR) only to the networks `[[dns.transfer]]`
 *   allows (NSD: `provide-xfr`), TSIG-signed when a key is set. NOTIFY in
 *   is obeyed only for a `[[dns.secondary]]` zone from one of its primaries
 *   (NSD: `allow-notify`), else REFUSED.
 * - CH-class queries (`version.bind`, `id.server`, ...) are always REFUSED,
 *   like NSD with `hide-version: yes` and `hide-identity: yes`.
 * - No DNSSEC processing: DNSSEC records are served as plain data and the
 *   DO bit adds no RRSIG/NSEC. No NSID or cookies: EDNS options in
 *   queries are ignored (NSD does the same unless they are configured).
 *   TSIG-signed queries are checked and answered signed (`tsig.ts`).
 * - Response rate limiting is on by default in both, with NSD's defaults
 *   (200/s, slip 2, /24 and /64), but vigia's buckets are token buckets per
 *   client network and answer class (NSD keeps a per-second rate) and a
 *   slipped answer carries no OPT record.
 * - DNAME has no special meaning (served as plain data in `\#` form) and
 *   `$GENERATE` is not read; zone files are re-read when they change on disk
 *   (NSD needs `nsd-control reload`).
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
import { type ComponentModule, sectionOf, type VigiaConfig } from "../daemon/types.ts";
import { type DnsConfig, dnsSection } from "./config.ts";
import { DnsServer } from "./component.ts";
import { configRecords, fileRecords } from "./sources.ts";
import { dnsMigrations } from "./schema.ts";
import { dnsVerbGroups, dnsVerbs } from "./verbs.ts";
import { checkDnsTransfers, zoneText } from "./transfer_config.ts";
import { buildZoneDb } from "./zone_db.ts";
import type { ZoneProblem } from "./zone_file.ts";

export { type DnsConfig, dnsSection } from "./config.ts";
export { DnsServer, type ZoneLoad } from "./component.ts";
export type { ZoneStatus } from "./zone_status.ts";
export { dnsMigrations } from "./schema.ts";
export { dnsVerbs } from "./verbs.ts";

/**
 * `config check` for `[dns]`: zone files readable and well formed (FILE:LINE),
 * config records well formed (their key), and the zones sound: one SOA per
 * zone, NS at the apex, CNAME exclusivity, no data outside every zone, glue
 * for in-zone name servers, nothing but glue below a delegation.
 */
export const checkDnsZones: ConfigCheck<VigiaConfig> = (config, report) => {
  const dns = sectionOf(dnsModule, config);
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
  const { db, problems } = buildZoneDb([...inline.records, ...files.records]);
  for (const p of problems) place(p);
  dns.secondary.forEach((z, i) => {
    const origin = zoneText(z.origin);
    if ([...db.zones.values()].some((zone) => zone.name.toLowerCase() === origin)) {
      report(
        `dns.secondary[${i}].origin`,
        `zone ${origin} is also served from dns.zone or dns.zone_files; a zone has one source`,
      );
    }
  });
};

/** The `dns` component module, registered in `lib/app/mod.ts`. */
export const dnsModule: ComponentModule<DnsConfig, DnsServer> = {
  name: "dns",
  schema: dnsSection,
  checks: [
    checkDnsZones,
    // Reads only its own section.
    (config, report, context) =>
      checkDnsTransfers({ dns: sectionOf(dnsModule, config) }, report, context),
  ],
  enabled: (section) => section.enabled,
  migrations: dnsMigrations,
  create: (context) => new DnsServer(context),
  verbs: dnsVerbs,
  verbGroups: dnsVerbGroups,
};
