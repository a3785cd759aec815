/**
 * The `[scanner]` config section. `enabled`, `resolvers`, `domains` and
 * `interval` are fixed by DESIGN.md; the rest tunes the scans.
 *
 * @module
 */

import {
  bool,
  duration,
  type Field,
  int,
  list,
  Section,
  type SectionValue,
  ValueError,
} from "../config/mod.ts";
import type { ConfigCheck } from "../config/mod.ts";
import { parseHostPort } from "../net/mod.ts";
import { normaliseDomain } from "./analyse.ts";

/** The state police domains of FFanalyse's published results. */
export const DEFAULT_DOMAINS = [
  "servicos.sds.pe.gov.br",
  "delegaciavirtual.sinesp.gov.br",
  "delegaciaonline.policiacivil.ma.gov.br",
  "www.delegaciaeletronica.ce.gov.br",
  "delegaciaonline.pb.gov.br",
];

/** Public resolvers shown in the reference config (Cloudflare, Google, Quad9). */
export const PUBLIC_RESOLVERS = ["1.1.1.1", "8.8.8.8", "9.9.9.9"];

function resolverField(): Field<string> {
  return {
    doc: "",
    default: "",
    expects: 'a resolver "IP", "IP:PORT", "[IPv6]:PORT" or "system"',
    validate(raw: unknown): string {
      if (typeof raw !== "string") {
        throw new ValueError(`expected a resolver such as "192.0.2.53:53", found ${typeof raw}`);
      }
      if (raw === "system") return raw;
      const hp = parseHostPort(raw, 53);
      if (typeof hp === "string") throw new ValueError(`${hp}, or "system"`);
      return raw;
    },
  };
}

function domainField(): Field<string> {
  return {
    doc: "",
    default: "",
    expects: "a domain name",
    validate(raw: unknown): string {
      if (typeof raw !== "string") {
        throw new ValueError(`expected a domain name, found ${typeof raw}`);
      }
      try {
        return normaliseDomain(raw);
      } catch (e) {
        throw new ValueError((e as Error).message);
      }
    },
  };
}

/** Schema of `[scanner]`. */
export const scannerSection = new Section(
  "Scheduled fault-tolerance scans of virtual police station domains (`vigia ctl scan ...`).",
  {
    enabled: bool({ doc: "Run scheduled scans.", default: true }),
    resolvers: list(resolverField(), {
      doc:
        'Resolvers asked in every round: "system" (the nameservers of /etc/resolv.conf), "IP" or "IP:PORT".',
      default: ["system"],
    }),
    public_resolvers: list(resolverField(), {
      doc:
        "Extra (public) resolvers asked besides `resolvers`, to compare answers; none when empty.",
      default: [],
      reference: PUBLIC_RESOLVERS,
    }),
    domains: list(domainField(), {
      doc: "Domains scanned on the schedule.",
      default: DEFAULT_DOMAINS,
    }),
    interval: duration({ doc: "Time between scan cycles.", default: "6h", minMs: 1000 }),
    jitter: duration({
      doc:
        "A random delay up to this is added to each interval, so many hosts do not scan in step.",
      default: "10m",
    }),
    start_delay: duration({
      doc: "The first cycle starts at a random moment within this after the daemon starts.",
      default: "1m",
    }),
    rounds: int({
      doc: "Resolution rounds per scan (spaced within the TTL to catch address rotation).",
      default: 3,
      min: 1,
      max: 20,
    }),
    round_interval: duration({
      doc: "Pause between rounds (shortened to TTL / rounds for short TTLs).",
      default: "1s",
    }),
    query_timeout: duration({ doc: "Timeout of one DNS query.", default: "2s", minMs: 10 }),
    scan_timeout: duration({
      doc: "A domain's scan stops after this and keeps what it found (a finding says so).",
      default: "20s",
      minMs: 100,
    }),
    concurrency: int({ doc: "Domains scanned at the same time.", default: 4, min: 1, max: 1000 }),
    alert_on_worsening: bool({
      doc:
        "Raise a `scan-degraded` alert when a domain got worse since its previous scan (lost addresses, networks or name servers, resolution failing, resolvers disagreeing, flux verdict turned Fast-Flux).",
      default: true,
    }),
    report_file: bool({
      doc: "Append each scan's human report to <log_dir>/scan-YYYY-MM-DD.log.",
      default: true,
    }),
    keep_days: int({
      doc: "Stored scans and scan report files older than this are deleted; 0 keeps them.",
      default: 365,
      min: 0,
      max: 36500,
    }),
  },
);

/** Validated `[scanner]`. */
export type ScannerConfig = SectionValue<typeof scannerSection>;

/** Semantic checks: at least one resolver overall. */
export const scannerChecks: ConfigCheck<{ scanner: ScannerConfig }>[] = [
  (config, report) => {
    const s = config.scanner;
    if (!s.enabled) return;
    if (s.resolvers.length + s.public_resolvers.length === 0) {
      report("scanner.resolvers", 'needs at least one resolver (e.g. "system")');
    }
  },
];
