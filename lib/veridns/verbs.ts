/**
 * Control verbs of the `veridns` component: `veridns events`.
 *
 * @module
 */

import { VerbError } from "../daemon/types.ts";
import type { Store } from "../store/mod.ts";
import { normalizeDomain } from "./codec.ts";

export function eventsVerb(args: Record<string, unknown>, env: { store: Store }) {
  const limit = args.limit === undefined ? 50 : Number(args.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10000) {
    throw new VerbError(`limit must be an integer from 1 to 10000, found ${String(args.limit)}`);
  }
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (typeof args.domain === "string" && args.domain !== "") {
    const d = normalizeDomain(args.domain);
    if (d === null) throw new VerbError(`"${args.domain}" is not a domain name`);
    where.push("domain = ?");
    params.push(d);
  }
  if (typeof args.client === "string" && args.client !== "") {
    where.push("client = ?");
    params.push(args.client);
  }
  if (args.malicious === true) where.push("verified = 0");
  const rows = env.store.query<Record<string, string | number>>(
    `SELECT time, client, domain, reported, malicious, verified, decision, answered FROM veridns_events${
      where.length ? ` WHERE ${where.join(" AND ")}` : ""
    } ORDER BY time DESC, id DESC LIMIT ?`,
    ...params,
    limit,
  );
  return rows.map((r) => ({ ...r, time: new Date(Number(r.time)).toISOString() }));
}
