/**
 * Schema of the `[dns]` config section.
 *
 * @module
 */

import {
  bool,
  cidr,
  duration,
  hostPort,
  int,
  list,
  Section,
  section,
  type SectionValue,
  str,
  tableArray,
} from "../config/schema.ts";
import { SERIAL_POLICIES } from "./serial.ts";
import { TSIG_ALGORITHMS } from "./tsig.ts";

/** The example zone served by the embedded default config. */
export const EXAMPLE_ZONE: Record<string, unknown> = {
  origin: "vigia.test.",
  ttl: 3600,
  records: [
    "@ SOA ns1 hostmaster 1 3600 900 604800 300",
    "@ NS ns1",
    "@ A 127.0.0.1",
    "@ AAAA ::1",
    "@ MX 10 mail",
    '@ TXT "v=spf1 -all"',
    "ns1 A 127.0.0.1",
    "ns1 AAAA ::1",
    "mail A 127.0.0.1",
    "www CNAME @",
  ],
};

const zoneItem = section("A zone written in the config.", {
  origin: str({
    doc: "The zone's apex (absolute name); relative record names are completed with it.",
    default: "",
    nonEmpty: true,
  }),
  ttl: int({
    doc: "TTL (seconds) of records that give none; 0 uses dns.default_ttl.",
    default: 0,
    min: 0,
    max: 0x7fffffff,
  }),
  records: list(str({ doc: "record", default: "" }), {
    doc:
      'Records in zone-file syntax, one per string: "NAME [TTL] TYPE RDATA" (NAME "@" is the origin). The zone needs one SOA.',
    default: [],
  }),
});

const tsigKeyItem = section(
  "A TSIG key (RFC 8945) shared with a peer; make one with `vigia tsig new NAME`.",
  {
    name: str({ doc: 'Key name, as the peer knows it ("xfr-key.").', default: "", nonEmpty: true }),
    algorithm: str({
      doc: "HMAC algorithm; hmac-sha1 only for old peers.",
      default: "hmac-sha256",
      oneOf: Object.keys(TSIG_ALGORITHMS),
    }),
    secret: str({
      doc: "The secret, base64. Give this or secret_file.",
      default: "",
    }),
    secret_file: str({
      doc:
        "A file holding the base64 secret (readable by vigia only), instead of secret; relative to the working directory.",
      default: "",
    }),
  },
);

const transferItem = section(
  "Who may transfer which zones (AXFR, IXFR), and who is sent a NOTIFY (RFC 1996) when a zone's serial changes.",
  {
    zones: list(str({ doc: "zone", default: "" }), {
      doc: 'Zones (absolute names), or ["*"] for every zone served.',
      default: ["*"],
    }),
    allow: list(cidr({ doc: "network", default: "" }), {
      doc: "Client networks allowed to transfer them (IP or CIDR); none by default.",
      default: [],
    }),
    key: str({
      doc: "When set, a dns.tsig_key name requests must be signed with (answers are signed too).",
      default: "",
    }),
    notify: list(hostPort({ doc: "address", default: "", defaultPort: 53 }), {
      doc: "Secondaries (IP:PORT) sent a NOTIFY on every serial change, signed with key when set.",
      default: [],
    }),
  },
);

const secondaryItem = section(
  "A zone vigia follows from other primaries (AXFR, then IXFR; refresh, retry and expire from the SOA; a NOTIFY from a primary starts a check at once).",
  {
    origin: str({
      doc: "The zone's apex (absolute name); no other zone source may hold it.",
      default: "",
      nonEmpty: true,
    }),
    primaries: list(hostPort({ doc: "address", default: "", defaultPort: 53 }), {
      doc:
        "Primaries (IP:PORT), tried in order; NOTIFYs for the zone are accepted from their addresses only.",
      default: [],
      min: 1,
    }),
    key: str({
      doc:
        "When set, a dns.tsig_key name: transfer requests are signed with it, every signed message of the answer is verified, and NOTIFYs must be signed with it.",
      default: "",
    }),
  },
);

/** Schema of `[dns.rrl]`. */
export const rrlSection = new Section(
  "Response rate limiting against reflection attacks (as NSD and Knot do): past the rate, responses to one client network for one kind of answer are dropped, every `slip`-th sent truncated.",
  {
    enabled: bool({ doc: "Limit the rate of UDP responses.", default: true }),
    responses_per_second: int({
      doc: "Responses per second to one network for one kind of answer before limiting.",
      default: 200,
      min: 1,
      max: 1_000_000,
    }),
    slip: int({
      doc:
        "Every N-th limited response is sent truncated (TC) so real clients retry over TCP; 0 drops them all.",
      default: 2,
      min: 0,
      max: 100,
    }),
    ipv4_prefix: int({
      doc: "IPv4 clients are grouped by this prefix length.",
      default: 24,
      min: 0,
      max: 32,
    }),
    ipv6_prefix: int({
      doc: "IPv6 clients are grouped by this prefix length.",
      default: 64,
      min: 0,
      max: 128,
    }),
    table_size: int({
      doc: "Buckets in the rate table (a power of two is used).",
      default: 65536,
      min: 1024,
      max: 16_777_216,
    }),
  },
);

/** Schema of `[dns]`. */
export const dnsSection = new Section(
  "Authoritative DNS server for the zones below, on UDP and TCP.",
  {
    enabled: bool({ doc: "Run the DNS server.", default: true }),
    listen: list(
      hostPort({ doc: "address", default: "", defaultPort: 53, listens: ["udp", "tcp"] }),
      {
        doc: "Addresses to serve, IP:PORT ([IPv6]:PORT); UDP and TCP on each.",
        default: ["127.0.0.1:5300"],
        reference: ["0.0.0.0:53", "[::]:53"],
        min: 1,
      },
    ),
    zone_files: list(str({ doc: "file", default: "" }), {
      doc:
        'RFC 1035 master files, each holding one or more zones (an SOA starts each), such as "/etc/vigia/zones/example.org.zone"; relative paths are taken from the working directory, like [paths]. Edits are picked up while running.',
      default: [],
    }),
    default_ttl: int({
      doc: "TTL (seconds) of config and zone-table records that give none.",
      default: 3600,
      min: 0,
      max: 0x7fffffff,
    }),
    udp_workers: int({
      doc:
        "UDP workers per address, each with its own SO_REUSEPORT socket. More pay off only with spare cores.",
      default: 1,
      min: 1,
      max: 64,
    }),
    fast_path: str({
      doc:
        '"auto": UDP through recvmmsg/sendmmsg (FFI) in workers, falling back to Deno\'s socket API when FFI is unavailable; "ffi": fail instead of falling back; "off": portable path only.',
      default: "auto",
      oneOf: ["auto", "ffi", "off"],
    }),
    max_udp_payload: int({
      doc:
        "Largest UDP response and the EDNS size advertised; 1232 avoids IP fragmentation (DNS flag day 2020).",
      default: 1232,
      min: 512,
      max: 4096,
    }),
    answer_cache: int({
      doc: "Pre-encoded answers kept per worker (emptied when full and on every zone change).",
      default: 100_000,
      min: 0,
      max: 10_000_000,
    }),
    tcp_idle_timeout: duration({
      doc: "A TCP connection waiting longer than this for a query is closed (RFC 7766).",
      default: "10s",
      minMs: 100,
    }),
    tcp_max_connections: int({
      doc: "TCP connections open at most per address; more are closed at once.",
      default: 100,
      min: 1,
      max: 100_000,
    }),
    table_poll: duration({
      doc:
        "How often the zone table is checked for edits made outside the daemon (ctl edits apply at once).",
      default: "2s",
      minMs: 100,
    }),
    serial_policy: str({
      doc:
        'How vigia gives a zone a new SOA serial when its content changes (zone table edit, ctl zone add/del, a zone file or config zone changed): "increment" adds one, "unixtime" uses the time in seconds, "dateserial" YYYYMMDDnn (Knot\'s names). A zone file whose author raised the serial past the one served keeps it. Serials compare as RFC 1982 says.',
      default: "increment",
      oneOf: [...SERIAL_POLICIES],
    }),
    ixfr_journal_changes: int({
      doc:
        "Changes kept per zone in the store for incremental transfers (IXFR, RFC 1995); a secondary further behind gets the whole zone. 0 keeps none.",
      default: 100,
      min: 0,
      max: 100_000,
    }),
    max_zone_records: int({
      doc:
        "Most records a zone transferred in (dns.secondary) may have; a bigger transfer is refused and the old copy kept.",
      default: 2_000_000,
      min: 1,
      max: 100_000_000,
    }),
    rrl: rrlSection,
    tsig_key: tableArray("TSIG keys for zone transfers and NOTIFY.", tsigKeyItem, {
      example: [{ name: "xfr-key.", algorithm: "hmac-sha256", secret_file: "/etc/vigia/xfr-key" }],
    }),
    transfer: tableArray(
      "Zone transfers out (AXFR over TCP, IXFR from the journal) and NOTIFY targets; no transfer is allowed without one.",
      transferItem,
      {
        example: [{
          zones: ["example.org."],
          allow: ["192.0.2.0/24"],
          key: "xfr-key.",
          notify: ["192.0.2.53:53"],
        }],
      },
    ),
    secondary: tableArray(
      "Secondary zones: transferred in from their primaries, kept in the store (a restart serves the copy until it expires), answered SERVFAIL once expired; they may be transferred onward by dns.transfer rules.",
      secondaryItem,
      {
        example: [{ origin: "other.test.", primaries: ["192.0.2.10:53"], key: "xfr-key." }],
      },
    ),
    zone: tableArray(
      "Zones written in the config (merged with zone_files and the zone table).",
      zoneItem,
      {
        default: [EXAMPLE_ZONE],
      },
    ),
  },
);

/** Validated `[dns]`. */
export type DnsConfig = SectionValue<typeof dnsSection>;
