/**
 * The `[veridns]` config section: listeners and certificate, branch servers
 * by country and continent, trusted resolvers, open IP lists, the
 * resolver-failure policy, limits and the resolver cache; plus the semantic
 * checks run by `vigia config check`.
 *
 * @module
 */

import {
  bool,
  type ConfigCheck,
  duration,
  type Field,
  hostPort,
  int,
  list,
  map,
  Section,
  section,
  type SectionValue,
  str,
  tableArray,
  ValueError,
} from "../config/mod.ts";
import { parseCidr, parseIp } from "../net/mod.ts";
import { parseResolver } from "../resolver/mod.ts";
import { ipv4ToNumber } from "./codec.ts";

/** An IPv4 address field (the wire format carries only IPv4). */
function ipv4(options: { doc: string; default: string; reference?: string }): Field<string> {
  return {
    doc: options.doc,
    default: options.default,
    reference: options.reference,
    expects: "an IPv4 address",
    validate(raw) {
      if (typeof raw !== "string" || ipv4ToNumber(raw) < 0) {
        throw new ValueError(`expected an IPv4 address, found ${JSON.stringify(raw)}`);
      }
      return raw;
    },
  };
}

/** The seven continent codes GeoLite2 uses. */
export const CONTINENTS = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"] as const;

const resolverItem = section("A trusted resolver.", {
  name: str({ doc: "Name used in logs and events; empty = the address or URL.", default: "" }),
  type: str({
    doc: '"dns" = classic DNS to an address; "doh" = DNS over HTTPS.',
    default: "dns",
    oneOf: ["dns", "doh"],
  }),
  address: str({
    doc: 'For type "dns": "IP", "IP:PORT", "[IPv6]:PORT" or "system" (/etc/resolv.conf).',
    default: "",
  }),
  url: str({
    doc:
      'For type "doh": the endpoint URL; https, or http only to a loopback address (tests, a local proxy).',
    default: "",
  }),
  flavour: str({
    doc:
      'For type "doh": "wire-post" / "wire-get" (RFC 8484, application/dns-message) or "json" (application/dns-json API).',
    default: "wire-post",
    oneOf: ["wire-post", "wire-get", "json"],
  }),
  timeout: duration({
    doc: "How long this resolver may take for one name.",
    default: "2s",
    minMs: 10,
  }),
  tcp: bool({ doc: 'For type "dns": ask over TCP from the start.', default: false }),
  ca: str({
    doc: 'For type "doh": extra CA certificate (PEM file) trusted for this endpoint.',
    default: "",
  }),
});

const openListItem = section("An open IP list: CIDR ranges published by a trusted entity.", {
  name: str({ doc: "Name used in logs and stats; empty = the source.", default: "" }),
  source: str({
    doc:
      "File path (relative to the working directory) or URL (https, or http to a loopback address).",
    default: "",
  }),
  format: str({
    doc:
      '"lines" = one CIDR per line (# comments, blank lines allowed); "csv" = a column named by `column`; "json" = the strings found at `json_path`.',
    default: "lines",
    oneOf: ["lines", "csv", "json"],
  }),
  column: str({ doc: 'For "csv": header name of the CIDR column.', default: "Prefix" }),
  json_path: list(str({ doc: "path", default: "" }), {
    doc:
      'For "json": paths to the CIDR strings, e.g. "prefixes[].ipv4Prefix"; "name[]" walks an array, "*" every value of an object.',
    default: [],
  }),
  refresh: duration({
    doc: "How often the list is loaded again; a failed load keeps the last good copy.",
    default: "24h",
    minMs: 1000,
  }),
  timeout: duration({ doc: "Download time limit for a URL.", default: "30s", minMs: 100 }),
  ca: str({ doc: "Extra CA certificate (PEM file) for an https source.", default: "" }),
});

/** Schema of `[veridns]`. */
export const veridnsSection = new Section(
  "VeriDNS over TLS: branch servers by the client's country, and checks of the DNS answers a client saw against trusted resolvers and open IP lists.",
  {
    enabled: bool({ doc: "Run the VeriDNS server.", default: true }),
    listen: list(hostPort({ doc: "address", default: "", defaultPort: 4433, listens: ["tcp"] }), {
      doc: "TLS listeners, IP:PORT.",
      default: ["127.0.0.1:4433"],
      reference: ["0.0.0.0:4433"],
      min: 1,
    }),
    cert: str({
      doc:
        "PEM certificate (chain) file, e.g. /etc/vigia/veridns.crt (readable by group vigia); empty = a self-signed certificate generated on first start under paths.state_dir (its SHA-256 fingerprint is logged).",
      default: "",
    }),
    key: str({
      doc:
        "PEM private key file matching `cert`, e.g. /etc/vigia/veridns.key; empty together with `cert`.",
      default: "",
    }),
    self_signed_names: list(str({ doc: "name", default: "" }), {
      doc: "Subject alternative names (DNS names or IPs) of a generated self-signed certificate.",
      default: ["localhost", "127.0.0.1"],
    }),
    root_address: ipv4({
      doc:
        "This (root) server's own public IPv4 address: the branch answer when no branch is configured for the client.",
      default: "127.0.0.1",
      reference: "203.0.113.10",
    }),
    branches: map(list(ipv4({ doc: "branch", default: "" }), { doc: "branches", default: [] }), {
      doc:
        'Branch servers by client country: ISO 3166 code ("BR") or English GeoLite2 name ("Hong Kong") = ordered IPv4 list.',
      default: {},
      reference: { BR: ["203.0.113.20", "203.0.113.21"], "Hong Kong": ["198.51.100.7"] },
    }),
    continent_branches: map(
      list(ipv4({ doc: "branch", default: "" }), { doc: "branches", default: [] }),
      {
        doc:
          "Branch servers by client continent code (AF AN AS EU NA OC SA), used when the country has none. Kept apart from `branches` because codes clash (SA is Saudi Arabia and South America).",
        default: {},
        reference: { SA: ["203.0.113.20"], EU: ["192.0.2.30"] },
      },
    ),
    client_map: map(
      {
        doc: "address",
        default: "",
        expects: "an IP address",
        validate(raw) {
          if (typeof raw !== "string" || parseIp(raw) === null) {
            throw new ValueError(`expected an IP address, found ${JSON.stringify(raw)}`);
          }
          return raw;
        },
      },
      {
        doc:
          'Geolocate clients from these ranges as if they came from the given address ("10.0.0.0/8" = "the site\'s public IP"; tests map 127.0.0.x aliases to chosen countries).',
        default: {},
      },
    ),
    on_resolver_failure: str({
      doc:
        'When no trusted resolver answered: "trust" answers verified (warning logged, counted) or "distrust" reports addresses outside the open lists as malicious.',
      default: "trust",
      oneOf: ["trust", "distrust"],
    }),
    max_frame_length: int({
      doc: "Largest frame Length accepted; longer frames close the connection.",
      default: 4096,
      min: 272,
      max: 1_048_576,
    }),
    max_addresses: int({
      doc: "Largest NumberOfAddr accepted in a request.",
      default: 64,
      min: 1,
      max: 262_144,
    }),
    max_connections: int({
      doc: "Open connections at most; more are closed at once.",
      default: 4096,
      min: 1,
      max: 1_000_000,
    }),
    max_connections_per_ip: int({
      doc: "Open connections per client address at most.",
      default: 256,
      min: 1,
      max: 1_000_000,
    }),
    handshake_timeout: duration({
      doc: "A TLS handshake must finish within this time.",
      default: "5s",
      minMs: 10,
    }),
    idle_timeout: duration({
      doc: "A connection without a frame for this long is closed.",
      default: "60s",
      minMs: 10,
    }),
    frame_timeout: duration({
      doc: "A frame once started must be complete within this time (a stalled client is closed).",
      default: "10s",
      minMs: 10,
    }),
    requests_per_second: int({
      doc:
        "Frames per connection per second; a faster client is slowed to this rate. 0 = no limit.",
      default: 200,
      min: 0,
      max: 1_000_000,
    }),
    cache_entries: int({
      doc: "Resolver answers kept in the cache at most (per resolver).",
      default: 20000,
      min: 0,
      max: 10_000_000,
    }),
    cache_min_ttl: duration({
      doc: "Answers are cached at least this long, whatever their TTL.",
      default: "10s",
    }),
    cache_max_ttl: duration({ doc: "Answers are cached at most this long.", default: "1h" }),
    negative_ttl: duration({
      doc: "How long a name without addresses (NXDOMAIN, no A record) stays cached.",
      default: "60s",
    }),
    failure_ttl: duration({
      doc: "After a resolver failed for a name, it is not asked again for that name for this long.",
      default: "5s",
    }),
    resolver: tableArray(
      "Trusted resolvers, asked in parallel; their answers are merged.",
      resolverItem,
      {
        default: [
          { name: "google", type: "doh", url: "https://dns.google/resolve", flavour: "json" },
          { name: "cloudflare", type: "doh", url: "https://cloudflare-dns.com/dns-query" },
          { name: "quad9", type: "doh", url: "https://dns.quad9.net/dns-query" },
        ],
      },
    ),
    open_list: tableArray(
      "Open IP lists (trusted CIDR ranges), merged and coalesced.",
      openListItem,
      {
        example: [
          {
            name: "google",
            source: "https://www.gstatic.com/ipranges/goog.json",
            format: "json",
            json_path: ["prefixes[].ipv4Prefix"],
          },
          { name: "cloudflare", source: "https://www.cloudflare.com/ips-v4", format: "lines" },
          {
            name: "github",
            source: "https://api.github.com/meta",
            format: "json",
            json_path: ["*[]"],
          },
          { name: "local", source: "/etc/vigia/open-ranges.txt", format: "lines", refresh: "5m" },
        ],
      },
    ),
  },
);

/** Validated `[veridns]`. */
export type VeridnsConfig = SectionValue<typeof veridnsSection>;
/** One validated `[[veridns.resolver]]`. */
export type ResolverConfig = VeridnsConfig["resolver"][number];
/** One validated `[[veridns.open_list]]`. */
export type OpenListConfig = VeridnsConfig["open_list"][number];

/** True when `url` is http(s) and plain http goes only to a loopback address. */
export function allowedUrl(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"${url}" is not a URL`;
  }
  if (u.protocol === "https:") return undefined;
  if (u.protocol !== "http:") return `"${url}" must be an https URL`;
  const host = u.hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost" || /^127\./.test(host) || host === "::1") return undefined;
  return `"${url}": plain http is allowed only to a loopback address; use https`;
}

/** True when `source` names a URL rather than a file. */
export function isUrlSource(source: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(source);
}

async function readable(path: string): Promise<string | undefined> {
  try {
    const st = await Deno.stat(path);
    if (!st.isFile) return `${path} is not a file`;
    const f = await Deno.open(path, { read: true });
    f.close();
    return undefined;
  } catch (e) {
    return e instanceof Deno.errors.NotFound
      ? `${path}: no such file`
      : `${path}: ${(e as Error).message}`;
  }
}

/** Semantic checks of `[veridns]` (files exist, resolver and list entries complete). */
export const veridnsChecks: ConfigCheck<{ veridns: VeridnsConfig }>[] = [
  async (config, report) => {
    const v = config.veridns;
    if (!v) return;
    if ((v.cert === "") !== (v.key === "")) {
      report(v.cert === "" ? "veridns.cert" : "veridns.key", "set both cert and key, or neither");
    }
    for (const k of ["cert", "key"] as const) {
      if (v[k] === "") continue;
      const why = await readable(v[k]);
      if (why) report(`veridns.${k}`, why);
    }
    if (v.enabled && v.resolver.length === 0) {
      report("veridns.resolver", "at least one [[veridns.resolver]] is needed to verify answers");
    }
    v.resolver.forEach((r, i) => {
      const at = `veridns.resolver[${i}]`;
      if (r.type === "dns") {
        if (r.address === "") report(`${at}.address`, 'type "dns" needs an address');
        else {
          try {
            if (parseResolver(r.address).length === 0) {
              report(`${at}.address`, "no nameserver found in /etc/resolv.conf");
            }
          } catch (e) {
            report(`${at}.address`, (e as Error).message);
          }
        }
        if (r.url !== "") report(`${at}.url`, 'a "dns" resolver takes an address, not a url');
      } else {
        if (r.url === "") report(`${at}.url`, 'type "doh" needs a url');
        else {
          const why = allowedUrl(r.url);
          if (why) report(`${at}.url`, why);
        }
        if (r.address !== "") {
          report(`${at}.address`, 'a "doh" resolver takes a url, not an address');
        }
      }
    });
    for (let i = 0; i < v.resolver.length; i++) {
      const ca = v.resolver[i].ca;
      if (ca !== "") {
        const why = await readable(ca);
        if (why) report(`veridns.resolver[${i}].ca`, why);
      }
    }
    for (let i = 0; i < v.open_list.length; i++) {
      const l = v.open_list[i];
      const at = `veridns.open_list[${i}]`;
      if (l.source === "") report(`${at}.source`, "needs a file path or URL");
      else if (isUrlSource(l.source)) {
        const why = allowedUrl(l.source);
        if (why) report(`${at}.source`, why);
      } else {
        const why = await readable(l.source);
        if (why) report(`${at}.source`, why);
      }
      if (l.format === "csv" && l.column === "") {
        report(`${at}.column`, 'format "csv" needs a column');
      }
      if (l.format === "json" && l.json_path.length === 0) {
        report(
          `${at}.json_path`,
          'format "json" needs at least one path such as "prefixes[].ipv4Prefix"',
        );
      }
      if (l.ca !== "") {
        const why = await readable(l.ca);
        if (why) report(`${at}.ca`, why);
      }
    }
    for (const key of Object.keys(v.branches)) {
      if (key.trim() === "") report("veridns.branches", "a country key must not be empty");
      else if (key.length === 2 && !/^[A-Za-z]{2}$/.test(key)) {
        report(`veridns.branches.${key}`, `"${key}" is not an ISO 3166 country code`);
      }
    }
    for (const key of Object.keys(v.continent_branches)) {
      if (!(CONTINENTS as readonly string[]).includes(key.toUpperCase())) {
        report(
          `veridns.continent_branches.${key}`,
          `"${key}" is not a continent code (${CONTINENTS.join(" ")})`,
        );
      }
    }
    for (const key of Object.keys(v.client_map)) {
      if (parseCidr(key) === null) {
        report(`veridns.client_map.${key}`, `"${key}" is not an IP address or CIDR range`);
      }
    }
    if (v.cache_min_ttl > v.cache_max_ttl) {
      report("veridns.cache_min_ttl", "must not be longer than cache_max_ttl");
    }
  },
];
