/**
 * The fault-tolerance verdict: Zonemaster-like checks (CONNECTIVITY03 AS
 * diversity, CONNECTIVITY04 prefix diversity, DELEGATION01 at least two name
 * servers, DELEGATION02 distinct addresses) applied to the service addresses
 * and to the name servers, plus resolution problems; and the comparison of
 * two scans of one domain that decides whether it got worse.
 *
 * Every finding below fires exactly when its condition holds:
 *
 * | code | level | condition |
 * |---|---|---|
 * | NO_RESOLVERS | ERROR | no resolver configured |
 * | RESOLUTION_FAILED | ERROR | resolvers configured, none answered any query |
 * | NAME_NOT_FOUND | ERROR | no address, and an answering resolver said NXDOMAIN |
 * | NO_ADDRESS | ERROR | no address, resolvers answered, none said NXDOMAIN |
 * | RESOLVER_FAILED | WARNING | some resolver never answered while another did |
 * | RESOLVERS_DISAGREE | WARNING | two answering resolvers gave different response codes, or address sets with nothing in common (one may be empty) |
 * | RESOLVERS_DIFFER | NOTICE | answering resolvers' address sets differ, but every two share an address |
 * | ADDRESS_SINGLE | WARNING | exactly one address |
 * | ADDRESS_ONE_PREFIX | WARNING | two or more addresses, all in one /24 (/48) |
 * | ADDRESS_ONE_ASN | WARNING | two or more addresses, each with a known ASN, all the same ASN |
 * | ADDRESS_ASN_UNKNOWN | INFO | some address has no known ASN (AS diversity not fully checked) |
 * | ADDRESS_NO_IPV6 | INFO | addresses found, none IPv6 |
 * | ADDRESS_NO_IPV4 | NOTICE | addresses found, none IPv4 |
 * | ADDRESS_ROTATION | INFO | some resolver returned different address sets in different rounds |
 * | NS_NOT_FOUND | WARNING | resolvers configured but no name server found for the name |
 * | NS_SINGLE | ERROR | exactly one name server |
 * | NS_UNRESOLVED | WARNING | some name server has no address |
 * | NS_ONE_ADDRESS | ERROR | two or more name servers, exactly one distinct address among them |
 * | NS_ONE_PREFIX | WARNING | two or more distinct name-server addresses, all in one /24 (/48) |
 * | NS_ONE_ASN | WARNING | two or more distinct name-server addresses, each with a known ASN, all the same ASN |
 * | NS_NO_IPV6 | INFO | name-server addresses found, none IPv6 |
 * | FAST_FLUX | NOTICE | at least one of the four fast-flux classifiers says flux |
 *
 * @module
 */

import type { FluxScores } from "./metrics.ts";
import { type Finding, type Level, LEVELS, type ScanResult } from "./types.ts";

/** What {@linkcode evaluateFindings} looks at: a scan result before its findings exist. */
export type FindingInputs = Pick<
  ScanResult,
  "resolvers" | "addresses" | "nameServers" | "nameServerError" | "flux" | "rcode"
>;

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function list(items: string[], max = 6): string {
  return items.length <= max
    ? items.join(", ")
    : `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
}

function fluxNames(flux: FluxScores): string[] {
  const out: string[] = [];
  if (flux.holz2008.flux) out.push(`Holz 2008 (${flux.holz2008.printed})`);
  if (flux.modifiedHolz.flux) out.push(`modified Holz (${flux.modifiedHolz.printed})`);
  if (flux.jaroslawPatrycja.flux) out.push(`Jaroslaw/Patrycja (${flux.jaroslawPatrycja.printed})`);
  if (flux.ruleBased.flux) out.push("the rule");
  return out;
}

/** Sorts findings most severe first, then by code. */
export function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort((a, b) =>
    LEVELS.indexOf(a.level) - LEVELS.indexOf(b.level) || a.code.localeCompare(b.code)
  );
}

/** The most severe level among `findings`, or null. */
export function worstLevel(findings: Finding[]): Level | null {
  let best = -1;
  for (const f of findings) {
    const i = LEVELS.indexOf(f.level);
    if (best < 0 || i < best) best = i;
  }
  return best < 0 ? null : LEVELS[best];
}

function sameSet(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}

function intersects(a: string[], b: string[]): boolean {
  const s = new Set(a);
  return b.some((x) => s.has(x));
}

/** Evaluates every check of the table in this module's documentation. */
export function evaluateFindings(r: FindingInputs): Finding[] {
  const out: Finding[] = [];
  const add = (level: Level, code: string, message: string) => out.push({ level, code, message });
  const answering = r.resolvers.filter((x) => x.answered > 0);
  const silent = r.resolvers.filter((x) => x.answered === 0);
  const addrs = r.addresses;

  // Resolution.
  if (r.resolvers.length === 0) {
    add("ERROR", "NO_RESOLVERS", "No resolver is configured, so the name could not be resolved.");
  } else if (answering.length === 0) {
    add(
      "ERROR",
      "RESOLUTION_FAILED",
      `None of ${plural(r.resolvers.length, "resolver")} answered (${
        list(r.resolvers.map((x) => `${x.server}: ${x.error ?? "no answer"}`), 3)
      }).`,
    );
  } else if (addrs.length === 0) {
    const nx = answering.filter((x) => x.rcode === "NXDOMAIN");
    if (nx.length > 0) {
      add(
        "ERROR",
        "NAME_NOT_FOUND",
        `The name does not exist (NXDOMAIN from ${list(nx.map((x) => x.server))}).`,
      );
    } else {
      add(
        "ERROR",
        "NO_ADDRESS",
        `The name has no IPv4 or IPv6 address (${
          list(answering.map((x) => `${x.server}: ${x.rcode ?? "?"}`))
        }).`,
      );
    }
  }
  if (answering.length > 0 && silent.length > 0) {
    add(
      "WARNING",
      "RESOLVER_FAILED",
      `${plural(silent.length, "resolver")} never answered: ${
        list(silent.map((x) => `${x.server} (${x.error ?? "no answer"})`))
      }.`,
    );
  }
  if (answering.length >= 2) {
    let disagree: string | undefined;
    let differ = false;
    for (let i = 0; i < answering.length && !disagree; i++) {
      for (let j = i + 1; j < answering.length && !disagree; j++) {
        const a = answering[i], b = answering[j];
        if (a.rcode !== b.rcode) {
          disagree = `${a.server} said ${a.rcode}, ${b.server} said ${b.rcode}`;
        } else if (
          (a.addresses.length > 0 || b.addresses.length > 0) &&
          !intersects(a.addresses, b.addresses)
        ) {
          disagree = `${a.server} returned ${
            list(a.addresses, 3) || "nothing"
          }, ${b.server} returned ${list(b.addresses, 3) || "nothing"}`;
        } else if (!sameSet(a.addresses, b.addresses)) differ = true;
      }
    }
    if (disagree) {
      add(
        "WARNING",
        "RESOLVERS_DISAGREE",
        `Resolvers disagree with nothing in common (${disagree}); a resolver may be spoofed or the name is geo-routed.`,
      );
    } else if (differ) {
      add(
        "NOTICE",
        "RESOLVERS_DIFFER",
        "Resolvers returned different but overlapping address sets (rotation or geo-routing).",
      );
    }
  }

  // Service addresses.
  if (addrs.length === 1) {
    add(
      "WARNING",
      "ADDRESS_SINGLE",
      `The name has a single address (${addrs[0].ip}): one server outage takes the service down.`,
    );
  }
  if (addrs.length >= 2) {
    const prefixes = new Set(addrs.map((a) => a.prefix));
    if (prefixes.size === 1) {
      add(
        "WARNING",
        "ADDRESS_ONE_PREFIX",
        `All ${addrs.length} addresses are in ${
          [...prefixes][0]
        }: one network outage takes the service down.`,
      );
    }
    const asns = new Set(addrs.map((a) => a.asn));
    if (!asns.has(null) && asns.size === 1) {
      const a = addrs[0];
      add(
        "WARNING",
        "ADDRESS_ONE_ASN",
        `All ${addrs.length} addresses are in AS${a.asn}${
          a.asOrg ? ` (${a.asOrg})` : ""
        }: one provider outage takes the service down.`,
      );
    }
  }
  const noAsn = addrs.filter((a) => a.asn === null);
  if (noAsn.length > 0) {
    add(
      "INFO",
      "ADDRESS_ASN_UNKNOWN",
      `${plural(noAsn.length, "address", "addresses")} without a known ASN (${
        list(noAsn.map((a) => a.ip))
      }); AS diversity is not fully checked.`,
    );
  }
  if (addrs.length > 0 && !addrs.some((a) => a.type === "AAAA")) {
    add("INFO", "ADDRESS_NO_IPV6", "The name has no IPv6 address.");
  }
  if (addrs.length > 0 && !addrs.some((a) => a.type === "A")) {
    add(
      "NOTICE",
      "ADDRESS_NO_IPV4",
      "The name has no IPv4 address: IPv4-only clients cannot reach it.",
    );
  }
  const rotated = r.resolvers.filter((x) => x.rotated);
  if (rotated.length > 0) {
    add(
      "INFO",
      "ADDRESS_ROTATION",
      `Address sets changed between rounds at ${list(rotated.map((x) => x.server))}.`,
    );
  }

  // Name servers.
  const ns = r.nameServers;
  if (r.resolvers.length > 0 && ns.length === 0) {
    add(
      "WARNING",
      "NS_NOT_FOUND",
      `No name server was found for the name${r.nameServerError ? ` (${r.nameServerError})` : ""}.`,
    );
  }
  if (ns.length === 1) {
    add(
      "ERROR",
      "NS_SINGLE",
      `The zone has a single name server (${ns[0].name}); at least two are required.`,
    );
  }
  const unresolved = ns.filter((n) => n.addresses.length === 0);
  if (unresolved.length > 0) {
    add(
      "WARNING",
      "NS_UNRESOLVED",
      `${plural(unresolved.length, "name server")} without an address: ${
        list(unresolved.map((n) => n.name))
      }.`,
    );
  }
  const nsAddrs = new Map<string, NonNullable<FindingInputs["nameServers"][0]["addresses"][0]>>();
  for (const n of ns) for (const a of n.addresses) nsAddrs.set(a.ip, a);
  if (ns.length >= 2 && nsAddrs.size === 1) {
    add(
      "ERROR",
      "NS_ONE_ADDRESS",
      `All ${ns.length} name servers share one address (${[...nsAddrs.keys()][0]}).`,
    );
  }
  if (nsAddrs.size >= 2) {
    const list2 = [...nsAddrs.values()];
    const prefixes = new Set(list2.map((a) => a.prefix));
    if (prefixes.size === 1) {
      add(
        "WARNING",
        "NS_ONE_PREFIX",
        `All ${nsAddrs.size} name-server addresses are in ${
          [...prefixes][0]
        }: one network outage stops resolution.`,
      );
    }
    const asns = new Set(list2.map((a) => a.asn));
    if (!asns.has(null) && asns.size === 1) {
      add(
        "WARNING",
        "NS_ONE_ASN",
        `All ${nsAddrs.size} name-server addresses are in AS${
          list2[0].asn
        }: one provider outage stops resolution.`,
      );
    }
  }
  if (nsAddrs.size > 0 && ![...nsAddrs.values()].some((a) => a.type === "AAAA")) {
    add("INFO", "NS_NO_IPV6", "No name server has an IPv6 address.");
  }

  // Fast flux.
  const flux = fluxNames(r.flux);
  if (flux.length > 0) {
    add(
      "NOTICE",
      "FAST_FLUX",
      `Fast-flux by ${list(flux)}; rule verdict ${r.flux.verdict}.`,
    );
  }
  return sortFindings(out);
}

/** One way a domain got worse between two scans. */
export interface ScanChange {
  /** Stable code. */
  code:
    | "RESOLUTION_LOST"
    | "ADDRESSES_LOST"
    | "PREFIXES_LOST"
    | "ASNS_LOST"
    | "NAME_SERVERS_LOST"
    | "RESOLVERS_DISAGREE"
    | "FLUX_VERDICT_CHANGED"
    | "NEW_FINDING";
  /** One sentence. */
  message: string;
}

const hasCode = (r: Pick<ScanResult, "findings">, code: string) =>
  r.findings.some((f) => f.code === code);

/**
 * How `next` is worse than `previous` (two scans of one domain): addresses,
 * networks or providers lost, resolution now failing, resolvers now
 * disagreeing, the rule-based flux verdict changed from Clean to Fast-Flux,
 * or a new ERROR/WARNING finding.
 * Empty when nothing got worse.
 */
export function compareScans(previous: ScanResult, next: ScanResult): ScanChange[] {
  const out: ScanChange[] = [];
  const covered = new Set<string>();
  if (previous.addresses.length > 0 && next.addresses.length === 0) {
    const why = next.findings.find((f) => f.level === "ERROR");
    out.push({
      code: "RESOLUTION_LOST",
      message: `Resolution now fails${why ? `: ${why.message}` : ""}`,
    });
    for (const c of ["RESOLUTION_FAILED", "NAME_NOT_FOUND", "NO_ADDRESS"]) covered.add(c);
  } else if (next.addresses.length > 0) {
    if (next.counts.numServers < previous.counts.numServers) {
      const now = new Set(next.addresses.map((a) => a.ip));
      const gone = previous.addresses.map((a) => a.ip).filter((ip) => !now.has(ip));
      out.push({
        code: "ADDRESSES_LOST",
        message:
          `Addresses fell from ${previous.counts.numServers} to ${next.counts.numServers} (gone: ${
            list(gone)
          }).`,
      });
      covered.add("ADDRESS_SINGLE");
    }
    if (next.counts.ranges < previous.counts.ranges) {
      out.push({
        code: "PREFIXES_LOST",
        message:
          `Networks (/24, /48) fell from ${previous.counts.ranges} to ${next.counts.ranges}.`,
      });
      covered.add("ADDRESS_ONE_PREFIX");
    }
    if (next.counts.asns < previous.counts.asns) {
      out.push({
        code: "ASNS_LOST",
        message: `Autonomous systems fell from ${previous.counts.asns} to ${next.counts.asns}.`,
      });
      covered.add("ADDRESS_ONE_ASN");
    }
  }
  if (
    next.counts.nameServers < previous.counts.nameServers ||
    next.counts.nameServerAddresses < previous.counts.nameServerAddresses
  ) {
    out.push({
      code: "NAME_SERVERS_LOST",
      message:
        `Name servers fell from ${previous.counts.nameServers} (${previous.counts.nameServerAddresses} addresses) to ${next.counts.nameServers} (${next.counts.nameServerAddresses} addresses).`,
    });
    for (const c of ["NS_SINGLE", "NS_NOT_FOUND", "NS_ONE_ADDRESS"]) covered.add(c);
  }
  if (hasCode(next, "RESOLVERS_DISAGREE") && !hasCode(previous, "RESOLVERS_DISAGREE")) {
    out.push({
      code: "RESOLVERS_DISAGREE",
      message: next.findings.find((f) => f.code === "RESOLVERS_DISAGREE")!.message,
    });
  }
  covered.add("RESOLVERS_DISAGREE");
  // Only the move to Fast-Flux is a worsening (a hijacked name pointed at a flux network looks
  // like this); Fast-Flux → Clean usually follows lost addresses, which are reported above.
  if (
    next.addresses.length > 0 && previous.addresses.length > 0 &&
    previous.flux.verdict === "Clean" && next.flux.verdict === "Fast-Flux"
  ) {
    out.push({
      code: "FLUX_VERDICT_CHANGED",
      message:
        `Rule-based flux verdict changed from ${previous.flux.verdict} to ${next.flux.verdict}.`,
    });
  }
  for (const f of next.findings) {
    if (f.level !== "ERROR" && f.level !== "WARNING") continue;
    if (covered.has(f.code) || hasCode(previous, f.code)) continue;
    out.push({ code: "NEW_FINDING", message: `${f.level} ${f.code}: ${f.message}` });
  }
  return out;
}
