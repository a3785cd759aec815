/**
 * The running `veridns` component: the TLS listener, the open lists, the
 * trusted resolvers and the branch directory, and what it does with each
 * request (decide, store, log, alert).
 *
 * @module
 */

import type { Component, ComponentContext } from "../daemon/types.ts";
import { openGeo } from "../geo/mod.ts";
import type { BatchedWrite } from "../store/mod.ts";
import { certificateFingerprint, ensureSelfSigned } from "../tls/mod.ts";
import { BranchDirectory } from "./branches.ts";
import {
  encodeBranchAnswer,
  encodeVerifyResponse,
  FrameError,
  normalizeDomain,
  numberToIpv4,
  type VerifyRequestFrame,
} from "./codec.ts";
import type { VeridnsConfig } from "./config.ts";
import { OpenLists } from "./open_lists.ts";
import { type Resolution, ResolverPool, trustedResolvers } from "./resolvers.ts";
import { VeridnsServer } from "./server.ts";
import { decide, type DecisionKind, outsideOpenLists } from "./verify.ts";
import { registerVeridnsMetrics } from "./metrics.ts";

/** Counters of the component (besides the server shell's). */
interface Counters {
  verifications: number;
  verified: number;
  not_verified: number;
  malicious_addresses: number;
  decided_by_open_list: number;
  decided_by_resolvers: number;
  all_resolvers_failed: number;
  trust_on_failure: number;
  distrust_on_failure: number;
  resolver_failures: number;
  branch_by_country: number;
  branch_by_continent: number;
  branch_by_root: number;
}

/** The running veridns component. */
export class VeridnsComponent implements Component {
  readonly #ctx: ComponentContext<VeridnsConfig>;
  readonly #section: VeridnsConfig;
  #server: VeridnsServer | undefined;
  #lists: OpenLists | undefined;
  #pool: ResolverPool | undefined;
  #branches: BranchDirectory | undefined;
  #insert: BatchedWrite | undefined;
  #fingerprint = "";
  #certPath = "";
  #geoWarnings: string[] = [];
  #lastFailureWarn = 0;
  #suppressedFailureWarns = 0;
  readonly #counters: Counters = {
    verifications: 0,
    verified: 0,
    not_verified: 0,
    malicious_addresses: 0,
    decided_by_open_list: 0,
    decided_by_resolvers: 0,
    all_resolvers_failed: 0,
    trust_on_failure: 0,
    distrust_on_failure: 0,
    resolver_failures: 0,
    branch_by_country: 0,
    branch_by_continent: 0,
    branch_by_root: 0,
  };

  /** Builds the component from its context; {@linkcode VeridnsComponent.start} binds the listeners. */
  constructor(ctx: ComponentContext<VeridnsConfig>) {
    this.#ctx = ctx;
    this.#section = ctx.section;
  }

  async #certificate(): Promise<{ certPem: string; keyPem: string }> {
    const s = this.#section;
    const log = this.#ctx.log;
    if (s.cert !== "") {
      this.#certPath = s.cert;
      const certPem = await Deno.readTextFile(s.cert);
      this.#fingerprint = await certificateFingerprint(certPem);
      return { certPem, keyPem: await Deno.readTextFile(s.key) };
    }
    const dir = String(this.#ctx.config.paths?.state_dir ?? "./var/lib");
    const made = await ensureSelfSigned(dir, {
      commonName: "vigia veridns",
      altNames: s.self_signed_names,
      basename: "veridns",
    });
    this.#certPath = made.certPath;
    this.#fingerprint = made.fingerprint;
    log.info(
      made.created ? "generated a self-signed certificate" : "using the self-signed certificate",
      {
        cert: made.certPath,
        sha256: made.fingerprint,
      },
    );
    return {
      certPem: await Deno.readTextFile(made.certPath),
      keyPem: await Deno.readTextFile(made.keyPath),
    };
  }

  async start(): Promise<void> {
    const s = this.#section;
    const { store, log, config } = this.#ctx;
    const { certPem, keyPem } = await this.#certificate();
    const geo = await openGeo({ cityDb: String(config.geoip?.city_db ?? "") });
    this.#geoWarnings = geo.warnings;
    for (const w of geo.warnings) log.warn(`${w}; every client gets the root address`);
    this.#branches = new BranchDirectory(s, geo.hasCity ? geo : undefined);
    this.#pool = new ResolverPool(await trustedResolvers(s.resolver), {
      cacheEntries: s.cache_entries,
      minTtlMs: s.cache_min_ttl,
      maxTtlMs: s.cache_max_ttl,
      negativeTtlMs: s.negative_ttl,
      failureTtlMs: s.failure_ttl,
      onFailure: (resolver, domain, error) => {
        this.#counters.resolver_failures++;
        log.debug("trusted resolver failed", { resolver, domain, error });
      },
    });
    const stateDir = String(config.paths?.state_dir ?? "./var/lib");
    this.#lists = new OpenLists(s.open_list, { copyDir: `${stateDir}/veridns-lists`, log });
    await this.#lists.start();
    this.#insert = store.batched(
      "INSERT INTO veridns_events (time, client, domain, reported, malicious, verified, decision, answered, failed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.#server = new VeridnsServer({
      listen: s.listen,
      certPem,
      keyPem,
      log,
      limits: {
        maxFrameLength: s.max_frame_length,
        maxAddresses: s.max_addresses,
        maxConnections: s.max_connections,
        maxConnectionsPerIp: s.max_connections_per_ip,
        handshakeTimeoutMs: s.handshake_timeout,
        idleTimeoutMs: s.idle_timeout,
        frameTimeoutMs: s.frame_timeout,
        requestsPerSecond: s.requests_per_second,
      },
      handler: {
        branch: (client, seq) => this.#branch(client, seq),
        verify: (client, frame) => this.#verify(client, frame),
      },
    });
    try {
      await this.#server.start();
    } catch (e) {
      this.#lists.stop();
      this.#pool.close();
      throw e;
    }
    registerVeridnsMetrics(this.#ctx.metrics, () => this.stats());
    log.info("listening", {
      addresses: this.#server.addresses.join(","),
      sha256: this.#fingerprint,
      resolvers: this.#pool.size,
      open_ranges: this.#lists.set.size,
    });
  }

  async stop(): Promise<void> {
    await this.#server?.stop();
    this.#lists?.stop();
    this.#pool?.close();
  }

  /** The open lists, for tests that wait on URL downloads. */
  get openLists(): OpenLists | undefined {
    return this.#lists;
  }

  #branch(client: string, seq: number): Uint8Array {
    const choice = this.#branches!.lookup(client);
    if (choice.match === "country") this.#counters.branch_by_country++;
    else if (choice.match === "continent") this.#counters.branch_by_continent++;
    else this.#counters.branch_by_root++;
    this.#ctx.dailyLog.event("veridns-branch", {
      client,
      geo_address: choice.geoAddress === client ? undefined : choice.geoAddress,
      country: choice.country,
      continent: choice.continent,
      match: choice.match,
      branches: choice.addresses.map(numberToIpv4),
    });
    return encodeBranchAnswer(seq, choice.addresses);
  }

  #verify(
    client: string,
    frame: VerifyRequestFrame,
  ): Uint8Array | Promise<Uint8Array> | FrameError {
    const domain = normalizeDomain(frame.domain);
    if (domain === null) {
      return new FrameError(
        "bad_domain",
        `DomainName ${JSON.stringify(frame.domain.slice(0, 64))} is not a domain name`,
      );
    }
    const lists = this.#lists!;
    const needed = outsideOpenLists(frame.addresses, (n) => lists.hasV4(n));
    if (needed.length === 0) {
      return this.#answer(client, domain, frame, null, needed);
    }
    return this.#pool!.resolve(domain, needed).then((r) =>
      this.#answer(client, domain, frame, r, needed)
    );
  }

  #answer(
    client: string,
    domain: string,
    frame: VerifyRequestFrame,
    evidence: Resolution | null,
    needed: number[],
  ): Uint8Array {
    const s = this.#section;
    const { malicious, decision } = decide(needed, evidence, s.on_resolver_failure);
    const c = this.#counters;
    c.verifications++;
    if (malicious.length === 0) c.verified++;
    else {
      c.not_verified++;
      c.malicious_addresses += malicious.length;
    }
    this.#countDecision(decision, domain, client, evidence);
    const reported = frame.addresses.map(numberToIpv4);
    const bad = malicious.map(numberToIpv4);
    const answered = evidence?.answered ?? [];
    const failed = evidence?.failed ?? [];
    const now = Date.now();
    this.#insert!(
      now,
      client,
      domain,
      reported.join(","),
      bad.join(","),
      malicious.length === 0 ? 1 : 0,
      decision,
      answered.join(","),
      failed.join(","),
    );
    this.#ctx.dailyLog.event("veridns", {
      client,
      domain,
      reported,
      malicious: bad,
      verified: malicious.length === 0,
      decision,
      resolvers: answered as string[],
      failed: failed as string[],
    });
    if (bad.length > 0) {
      this.#ctx.alerts.publish({
        kind: "veridns-malicious",
        severity: "warning",
        subject: `${domain} ${bad.join(",")}`,
        details: {
          client,
          domain,
          reported,
          malicious: bad,
          decision,
          resolvers: answered as string[],
        },
      });
    }
    return encodeVerifyResponse(frame.seq, malicious);
  }

  #countDecision(
    decision: DecisionKind,
    domain: string,
    client: string,
    evidence: Resolution | null,
  ): void {
    const c = this.#counters;
    switch (decision) {
      case "open-list":
        c.decided_by_open_list++;
        return;
      case "resolvers":
        c.decided_by_resolvers++;
        return;
      case "trust-on-failure":
        c.trust_on_failure++;
        break;
      case "distrust-on-failure":
        c.distrust_on_failure++;
        break;
    }
    c.all_resolvers_failed++;
    // One warning a second at most: an outage must not flood the log.
    const now = Date.now();
    if (now - this.#lastFailureWarn < 1000) {
      this.#suppressedFailureWarns++;
      return;
    }
    this.#lastFailureWarn = now;
    this.#ctx.log.warn(
      decision === "trust-on-failure"
        ? "no trusted resolver answered; verified by policy (on_resolver_failure = trust)"
        : "no trusted resolver answered; reported as malicious by policy (on_resolver_failure = distrust)",
      {
        domain,
        client,
        failed: (evidence?.failed ?? []).join(","),
        similar_since_last: this.#suppressedFailureWarns,
      },
    );
    this.#suppressedFailureWarns = 0;
  }

  status(): Record<string, unknown> {
    return {
      listening: this.#server?.addresses ?? [],
      certificate: this.#certPath,
      sha256: this.#fingerprint,
      resolvers: this.#pool?.size ?? 0,
      open_ranges: this.#lists?.set.size ?? 0,
      open_lists: this.#lists?.status() ?? [],
      geo: this.#geoWarnings.length === 0 ? "ok" : this.#geoWarnings.join("; "),
    };
  }

  stats(): Record<string, unknown> {
    const server = this.#server?.stats();
    return {
      ...this.#counters,
      connections_open: server?.connections_open ?? 0,
      connections_total: server?.connections_total ?? 0,
      refused_total_limit: server?.refused_total_limit ?? 0,
      refused_per_ip_limit: server?.refused_per_ip_limit ?? 0,
      handshake_failures: server?.handshake_failures ?? 0,
      handshake_timeouts: server?.handshake_timeouts ?? 0,
      idle_timeouts: server?.idle_timeouts ?? 0,
      throttled: server?.throttled ?? 0,
      frames_in: server?.frames_in ?? {},
      frames_out: server?.frames_out ?? {},
      bad_frames: server?.bad_frames ?? {},
      resolvers: this.#pool?.stats() ?? [],
      open_ranges: this.#lists?.set.size ?? 0,
    };
  }
}
