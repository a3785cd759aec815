/**
 * The `veridns` component: the VeriDNS protocol over TLS (default port
 * 4433). Branch Server Address Queries are answered with the branch servers
 * configured for the client's country or continent (GeoLite2), else the
 * root's own address. VeriDNS Requests are checked against open IP lists and
 * trusted resolvers (classic DNS and DNS over HTTPS, asked in parallel,
 * cached by TTL); every verification is stored (`veridns_events`), written
 * to the daily log (kind `veridns`), and raises a `veridns-malicious` alert
 * when an address does not check out.
 *
 * Also exports the client functions behind `vigia veridns branch|verify`.
 *
 * @example
 * ```ts ignore
 * import { veridnsBranch, veridnsModule } from "./mod.ts";
 * // registered in lib/app/mod.ts; the daemon calls create() and start().
 * const { addresses } = await veridnsBranch({ server: "127.0.0.1:4433", insecure: true });
 * ```
 *
 * @module
 */

import { type ComponentModule, sectionOf } from "../daemon/types.ts";
import { veridnsChecks, type VeridnsConfig, veridnsSection } from "./config.ts";
import { VeridnsComponent } from "./component.ts";
import { veridnsMigrations } from "./schema.ts";
import { veridnsVerbGroups, veridnsVerbs } from "./verbs.ts";

export {
  type BranchResult,
  type ClientOptions,
  parseServer,
  veridnsBranch,
  VeridnsClientError,
  VeridnsSession,
  veridnsVerify,
  type VerifyResult,
} from "./client.ts";
export { type VeridnsConfig, veridnsSection } from "./config.ts";
export type { VeridnsComponent } from "./component.ts";
export type { ListStatus, OpenLists } from "./open_lists.ts";

export { veridnsMigrations } from "./schema.ts";

/** The component module registered in `lib/app/mod.ts`. */
export const veridnsModule: ComponentModule<VeridnsConfig, VeridnsComponent> = {
  name: "veridns",
  schema: veridnsSection,
  // The checks read only their own section.
  checks: veridnsChecks.map((check) => (config, report, context) =>
    check({ veridns: sectionOf(veridnsModule, config) }, report, context)
  ),
  enabled: (section) => section.enabled,
  migrations: veridnsMigrations,
  create: (ctx) => new VeridnsComponent(ctx),
  verbs: veridnsVerbs,
  verbGroups: veridnsVerbGroups,
  prune: ({ store }, { before, keepAbove }) => ({
    veridns_events: before === undefined ? 0 : store.run(
      "DELETE FROM veridns_events WHERE time < ? AND id <= ?",
      before,
      keepAbove?.veridns_events ?? Number.MAX_SAFE_INTEGER,
    ).changes,
  }),
};
