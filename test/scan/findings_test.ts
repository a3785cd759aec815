import assert from "node:assert/strict";
import {
  compareScans,
  evaluateFindings,
  type FindingInputs,
  worstLevel,
} from "../../lib/scan/findings.ts";
import { fluxScores } from "../../lib/scan/metrics.ts";
import type { AddressInfo, ResolverOutcome, ScanResult } from "../../lib/scan/types.ts";

const CLEAN = fluxScores({
  aRecords: 0,
  asns: 0,
  ranges: 0,
  countries: 0,
  numServers: 0,
  nameServers: 0,
  ttl: null,
});

function addr(ip: string, prefix: string, asn: number | null): AddressInfo {
  return {
    ip,
    type: ip.includes(":") ? "AAAA" : "A",
    ttl: 300,
    prefix,
    resolvers: [],
    rounds: 1,
    asn,
    asOrg: null,
    countryCode: null,
    countryName: null,
    city: null,
    latitude: null,
    longitude: null,
    accuracyRadius: null,
    timeZone: null,
    utcOffsetNow: null,
    utcOffset2012: null,
    utm: null,
    mgrs: null,
    values: { timeZone: 0, utm: null, utmOriginal: null, mgrs: null },
  };
}

function resolver(server: string, addresses: string[], extra: Partial<ResolverOutcome> = {}) {
  return {
    server,
    answered: 1,
    failed: 0,
    rcode: "NOERROR",
    error: null,
    addresses,
    rttMs: 1,
    rotated: false,
    ...extra,
  };
}

function nsAddr(ip: string, prefix: string, asn: number | null) {
  return {
    ip,
    type: (ip.includes(":") ? "AAAA" : "A") as "A" | "AAAA",
    prefix,
    asn,
    asOrg: null,
    countryCode: null,
  };
}

/** A redundant, healthy domain: no finding at all. */
function healthy(): FindingInputs {
  const a = addr("192.0.2.1", "192.0.2.0/24", 64500);
  const b = addr("2001:db8:1::1", "2001:db8:1::/48", 64501);
  return {
    resolvers: [
      resolver("127.0.0.1:53", [a.ip, b.ip]),
      resolver("127.0.0.2:53", [a.ip, b.ip]),
    ],
    addresses: [a, b],
    nameServers: [
      {
        name: "ns1.example.test",
        addresses: [nsAddr("198.51.100.1", "198.51.100.0/24", 64510)],
        error: null,
      },
      {
        name: "ns2.example.test",
        addresses: [nsAddr("2001:db8:2::53", "2001:db8:2::/48", 64511)],
        error: null,
      },
    ],
    nameServerError: null,
    flux: CLEAN,
    rcode: "NOERROR",
  };
}

function codes(inputs: FindingInputs): string[] {
  return evaluateFindings(inputs).map((f) => f.code).sort();
}

Deno.test("a redundant dual-stack domain has no finding", () => {
  assert.deepEqual(codes(healthy()), []);
  assert.equal(worstLevel([]), null);
});

Deno.test("resolution findings: NO_RESOLVERS, RESOLUTION_FAILED, NAME_NOT_FOUND, NO_ADDRESS, RESOLVER_FAILED", () => {
  const none = { ...healthy(), resolvers: [], addresses: [], nameServers: [] };
  assert.deepEqual(codes(none), ["NO_RESOLVERS"]);

  const failed = {
    ...healthy(),
    addresses: [],
    resolvers: [
      resolver("127.0.0.1:53", [], { answered: 0, failed: 3, rcode: null, error: "timeout" }),
    ],
  };
  assert.deepEqual(codes(failed), ["RESOLUTION_FAILED"]);
  const f = evaluateFindings(failed)[0];
  assert.equal(f.level, "ERROR");
  assert.match(f.message, /127\.0\.0\.1:53: timeout/);

  const nx = {
    ...healthy(),
    addresses: [],
    resolvers: [resolver("127.0.0.1:53", [], { rcode: "NXDOMAIN" })],
  };
  assert.deepEqual(codes(nx), ["NAME_NOT_FOUND"]);

  const nodata = { ...healthy(), addresses: [], resolvers: [resolver("127.0.0.1:53", [])] };
  assert.deepEqual(codes(nodata), ["NO_ADDRESS"]);

  const h = healthy();
  const oneSilent = {
    ...h,
    resolvers: [
      h.resolvers[0],
      resolver("127.0.0.9:53", [], { answered: 0, failed: 1, rcode: null, error: "timeout" }),
    ],
  };
  assert.deepEqual(codes(oneSilent), ["RESOLVER_FAILED"]);
  // A resolver that failed some rounds but answered one is not "failed".
  const partly = {
    ...h,
    resolvers: [h.resolvers[0], { ...h.resolvers[1], failed: 2, error: "timeout" }],
  };
  assert.deepEqual(codes(partly), []);
});

Deno.test("resolver agreement: RESOLVERS_DISAGREE (disjoint or rcode) vs RESOLVERS_DIFFER (overlap)", () => {
  const h = healthy();
  const [a, b] = h.addresses;
  const disjoint = {
    ...h,
    resolvers: [resolver("127.0.0.1:53", [a.ip]), resolver("127.0.0.2:53", [b.ip])],
  };
  assert.deepEqual(codes(disjoint), ["RESOLVERS_DISAGREE"]);
  assert.equal(evaluateFindings(disjoint)[0].level, "WARNING");
  const oneEmpty = {
    ...h,
    resolvers: [resolver("127.0.0.1:53", [a.ip, b.ip]), resolver("127.0.0.2:53", [])],
  };
  assert.deepEqual(codes(oneEmpty), ["RESOLVERS_DISAGREE"]);
  const rcodes = {
    ...h,
    resolvers: [
      resolver("127.0.0.1:53", [a.ip, b.ip]),
      resolver("127.0.0.2:53", [a.ip, b.ip], { rcode: "SERVFAIL" }),
    ],
  };
  assert.deepEqual(codes(rcodes), ["RESOLVERS_DISAGREE"]);
  const overlap = {
    ...h,
    resolvers: [resolver("127.0.0.1:53", [a.ip, b.ip]), resolver("127.0.0.2:53", [a.ip])],
  };
  assert.deepEqual(codes(overlap), ["RESOLVERS_DIFFER"]);
  assert.equal(evaluateFindings(overlap)[0].level, "NOTICE");
  // One answering resolver: nothing to compare.
  assert.deepEqual(codes({ ...h, resolvers: [resolver("127.0.0.1:53", [a.ip, b.ip])] }), []);
});

Deno.test("service address findings fire exactly at their boundaries", () => {
  const h = healthy();
  const v4 = (ip: string, asn: number | null = 64500) =>
    addr(ip, `${ip.split(".").slice(0, 3).join(".")}.0/24`, asn);
  const withAddrs = (addresses: AddressInfo[]) => ({
    ...h,
    addresses,
    resolvers: h.resolvers.map((r) => ({ ...r, addresses: addresses.map((x) => x.ip) })),
  });
  // One address: single, and no IPv6; the prefix/ASN findings need two addresses.
  assert.deepEqual(codes(withAddrs([v4("192.0.2.1")])), ["ADDRESS_NO_IPV6", "ADDRESS_SINGLE"]);
  // Two in one /24 and one ASN.
  assert.deepEqual(
    codes(withAddrs([v4("192.0.2.1"), v4("192.0.2.2")])),
    ["ADDRESS_NO_IPV6", "ADDRESS_ONE_ASN", "ADDRESS_ONE_PREFIX"],
  );
  // Two /24s, one ASN.
  assert.deepEqual(
    codes(withAddrs([v4("192.0.2.1"), v4("192.0.3.1")])),
    ["ADDRESS_NO_IPV6", "ADDRESS_ONE_ASN"],
  );
  // Two /24s, two ASNs.
  assert.deepEqual(
    codes(withAddrs([v4("192.0.2.1"), v4("192.0.3.1", 64501)])),
    ["ADDRESS_NO_IPV6"],
  );
  // Unknown ASN: ONE_ASN cannot be claimed; the gap is reported.
  assert.deepEqual(
    codes(withAddrs([v4("192.0.2.1"), v4("192.0.3.1", null)])),
    ["ADDRESS_ASN_UNKNOWN", "ADDRESS_NO_IPV6"],
  );
  // IPv6 only.
  const six = [
    addr("2001:db8:1::1", "2001:db8:1::/48", 64500),
    addr("2001:db8:2::1", "2001:db8:2::/48", 64501),
  ];
  assert.deepEqual(codes(withAddrs(six)), ["ADDRESS_NO_IPV4"]);
  // Rotation seen by one resolver.
  const rotated = {
    ...h,
    resolvers: [h.resolvers[0], { ...h.resolvers[1], rotated: true }],
  };
  assert.deepEqual(codes(rotated), ["ADDRESS_ROTATION"]);
});

Deno.test("name server findings fire exactly at their boundaries", () => {
  const h = healthy();
  const ns = (name: string, addrs: ReturnType<typeof nsAddr>[]) => ({
    name,
    addresses: addrs,
    error: addrs.length ? null : "no address",
  });
  const a1 = nsAddr("198.51.100.1", "198.51.100.0/24", 64510);
  const a2 = nsAddr("198.51.100.2", "198.51.100.0/24", 64510);
  const a3 = nsAddr("203.0.113.1", "203.0.113.0/24", 64510);
  const a4 = nsAddr("203.0.113.9", "203.0.113.0/24", 64599);
  const v6 = nsAddr("2001:db8:2::53", "2001:db8:2::/48", 64511);
  const v6b = nsAddr("2001:db8:3::53", "2001:db8:3::/48", 64512);
  const withNs = (nameServers: FindingInputs["nameServers"], error: string | null = null) => ({
    ...h,
    nameServers,
    nameServerError: error,
  });
  assert.deepEqual(codes(withNs([], "timeout")), ["NS_NOT_FOUND"]);
  assert.match(evaluateFindings(withNs([], "timeout"))[0].message, /timeout/);
  assert.deepEqual(codes(withNs([ns("ns1", [a1, v6])])), ["NS_SINGLE"]);
  assert.deepEqual(codes(withNs([ns("ns1", [a1, v6]), ns("ns2", [])])), ["NS_UNRESOLVED"]);
  assert.deepEqual(codes(withNs([ns("ns1", [a1]), ns("ns2", [a1])])), [
    "NS_NO_IPV6",
    "NS_ONE_ADDRESS",
  ]);
  assert.deepEqual(codes(withNs([ns("ns1", [a1]), ns("ns2", [a2])])), [
    "NS_NO_IPV6",
    "NS_ONE_ASN",
    "NS_ONE_PREFIX",
  ]);
  assert.deepEqual(codes(withNs([ns("ns1", [a1]), ns("ns2", [a3])])), [
    "NS_NO_IPV6",
    "NS_ONE_ASN",
  ]);
  assert.deepEqual(codes(withNs([ns("ns1", [a1]), ns("ns2", [a4])])), ["NS_NO_IPV6"]);
  assert.deepEqual(
    codes(withNs([ns("ns1", [a1]), ns("ns2", [{ ...a4, asn: null }])])),
    ["NS_NO_IPV6"],
  );
  assert.deepEqual(codes(withNs([ns("ns1", [v6]), ns("ns2", [v6b])])), []);
  // No resolvers: NS_NOT_FOUND is not added on top of NO_RESOLVERS.
  assert.deepEqual(codes({ ...h, resolvers: [], addresses: [], nameServers: [] }), [
    "NO_RESOLVERS",
  ]);
});

Deno.test("FAST_FLUX fires when any classifier says flux, naming it", () => {
  const h = healthy();
  const flux = fluxScores({
    aRecords: 22,
    asns: 1,
    ranges: 1,
    countries: 1,
    numServers: 22,
    nameServers: 2,
    ttl: 297,
  });
  const f = evaluateFindings({ ...h, flux }).find((x) => x.code === "FAST_FLUX")!;
  assert.equal(f.level, "NOTICE");
  assert.match(f.message, /modified Holz \(2\)/);
  assert.match(f.message, /Jaroslaw\/Patrycja \(50\)/);
  assert.doesNotMatch(f.message, /Holz 2008/);
  const single = fluxScores({
    aRecords: 1,
    asns: 1,
    ranges: 1,
    countries: 1,
    numServers: 1,
    nameServers: 2,
    ttl: 21594,
  });
  assert.ok(!codes({ ...h, flux: single }).includes("FAST_FLUX"));
});

Deno.test("findings are sorted most severe first and worstLevel picks the top", () => {
  const h = healthy();
  const f = evaluateFindings({
    ...h,
    addresses: [h.addresses[0]],
    nameServers: [h.nameServers[0]],
  });
  assert.deepEqual(f.map((x) => x.level), ["ERROR", "WARNING", "INFO", "INFO"]);
  assert.equal(worstLevel(f), "ERROR");
});

function scan(partial: Partial<ScanResult> & Pick<ScanResult, "addresses">): ScanResult {
  const ranges = new Set(partial.addresses.map((a) => a.prefix)).size;
  const asns = new Set(partial.addresses.map((a) => a.asn).filter((x) => x !== null)).size;
  const base: ScanResult = {
    version: 1,
    domain: "example.test",
    startedAt: new Date(0).toISOString(),
    durationMs: 1,
    rounds: 1,
    resolved: true,
    rcode: "NOERROR",
    cnames: [],
    ttl: 300,
    resolvers: [],
    addresses: [],
    zone: "example.test",
    nameServers: [],
    nameServerError: null,
    counts: {
      aRecords: partial.addresses.length,
      aaaaRecords: 0,
      ranges,
      asns,
      countries: 1,
      cities: 1,
      numServers: partial.addresses.length,
      nameServers: 2,
      nameServerAddresses: 2,
    },
    lists: { ranges: [], asns: [], countries: [], cities: [] },
    flux: CLEAN,
    spatial: {
      located: 0,
      unlocated: 0,
      timeZone: { moranI: 0, gearyC: 0 },
      utm: { moranI: 0, gearyC: 0 },
      mgrs: { moranI: 0, gearyC: 0 },
      combined: { moranI: 0, gearyC: 0 },
    },
    name: {
      name: "example.test",
      labels: 2,
      length: 11,
      distinctChars: 8,
      unigramEntropy: 0,
      bigramEntropy: 0,
      firstLabel: { label: "example", unigramEntropy: 0, bigramEntropy: 0 },
    },
    findings: [],
    worst: null,
    warnings: [],
  };
  return { ...base, ...partial };
}

Deno.test("compareScans: unchanged and better scans are not worse", () => {
  const a = addr("192.0.2.1", "192.0.2.0/24", 1);
  const b = addr("198.51.100.1", "198.51.100.0/24", 2);
  const s1 = scan({ addresses: [a, b] });
  assert.deepEqual(compareScans(s1, s1), []);
  const one = scan({ addresses: [a] });
  assert.deepEqual(compareScans(one, s1), []);
  // Same count, different address (renumbering) is not a loss.
  const c = addr("203.0.113.1", "203.0.113.0/24", 3);
  assert.deepEqual(compareScans(s1, scan({ addresses: [a, c] })), []);
});

Deno.test("compareScans: each kind of worsening is reported", () => {
  const a = addr("192.0.2.1", "192.0.2.0/24", 1);
  const a2 = addr("192.0.2.2", "192.0.2.0/24", 1);
  const b = addr("198.51.100.1", "198.51.100.0/24", 2);
  const before = scan({ addresses: [a, a2, b] });
  const lostOne = compareScans(before, scan({ addresses: [a, b] }));
  assert.deepEqual(lostOne.map((c) => c.code), ["ADDRESSES_LOST"]);
  assert.match(lostOne[0].message, /from 3 to 2 \(gone: 192\.0\.2\.2\)/);
  const lostNet = compareScans(before, scan({ addresses: [a, a2] }));
  assert.deepEqual(lostNet.map((c) => c.code), ["ADDRESSES_LOST", "PREFIXES_LOST", "ASNS_LOST"]);
  const failed = scan({
    addresses: [],
    resolved: false,
    findings: [{ level: "ERROR", code: "RESOLUTION_FAILED", message: "None answered." }],
  });
  const lost = compareScans(before, failed);
  assert.deepEqual(lost.map((c) => c.code), ["RESOLUTION_LOST"]);
  assert.match(lost[0].message, /None answered/);
  // Failing again is not news.
  assert.deepEqual(compareScans(failed, failed), []);
  // Resolvers disagreeing now.
  const disagree = scan({
    addresses: [a, a2, b],
    findings: [{ level: "WARNING", code: "RESOLVERS_DISAGREE", message: "x" }],
  });
  assert.deepEqual(compareScans(before, disagree).map((c) => c.code), ["RESOLVERS_DISAGREE"]);
  assert.deepEqual(compareScans(disagree, disagree), []);
  // Flux verdict changed.
  const fluxy = scan({
    addresses: [a, a2, b],
    flux: fluxScores({
      aRecords: 3,
      asns: 2,
      ranges: 2,
      countries: 1,
      numServers: 3,
      nameServers: 2,
      ttl: 60,
    }),
  });
  assert.deepEqual(compareScans(before, fluxy).map((c) => c.code), ["FLUX_VERDICT_CHANGED"]);
  // The other way round is not a worsening.
  assert.deepEqual(compareScans(fluxy, before), []);
  // Name servers lost.
  const fewerNs = scan({
    addresses: [a, a2, b],
    counts: { ...before.counts, nameServers: 1, nameServerAddresses: 1 },
  });
  assert.deepEqual(compareScans(before, fewerNs).map((c) => c.code), ["NAME_SERVERS_LOST"]);
  // A new warning not covered by the above.
  const newWarning = scan({
    addresses: [a, a2, b],
    findings: [{ level: "WARNING", code: "NS_ONE_ASN", message: "one AS" }],
  });
  const nw = compareScans(before, newWarning);
  assert.deepEqual(nw.map((c) => c.code), ["NEW_FINDING"]);
  assert.match(nw[0].message, /NS_ONE_ASN/);
  // A new INFO is not a worsening.
  const newInfo = scan({
    addresses: [a, a2, b],
    findings: [{ level: "INFO", code: "ADDRESS_NO_IPV6", message: "" }],
  });
  assert.deepEqual(compareScans(before, newInfo), []);
});
