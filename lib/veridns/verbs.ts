/**
 * Control verbs of the `veridns` component: `veridns events`.
 *
 * @module
 */

import { decodeCursor, encodeCursor, type Page, paging, timeRange } from "../daemon/args.ts";
import { VerbError, verbsOf, type VerbSpec } from "../daemon/types.ts";
import { normalizeDomain } from "./codec.ts";
import type { VeridnsComponent } from "./component.ts";
import type { VeridnsConfig } from "./config.ts";

const verb = verbsOf<VeridnsConfig, VeridnsComponent>();

/** Every verb of the component. */
export const veridnsVerbs: VerbSpec<VeridnsConfig, VeridnsComponent>[] = [
  verb({
    name: "veridns events",
    describe: "recent verifications, newest first",
    role: "read",
    output: "paged",
    args: {
      domain: { type: "string", describe: "only this domain" },
      client: { type: "string", describe: "only this client IP" },
      malicious: {
        type: "boolean",
        describe: "only verifications that found malicious addresses",
      },
      ...timeRange(),
      ...paging(50),
    },
    run: (args, env): Page => {
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (args.domain !== undefined) {
        const d = normalizeDomain(args.domain);
        if (d === null) throw new VerbError(`"${args.domain}" is not a domain name`);
        where.push("domain = ?");
        params.push(d);
      }
      if (args.client !== undefined) {
        where.push("client = ?");
        params.push(args.client);
      }
      if (args.malicious === true) where.push("verified = 0");
      if (args.since !== undefined) {
        where.push("time >= ?");
        params.push(args.since);
      }
      if (args.until !== undefined) {
        where.push("time < ?");
        params.push(args.until);
      }
      if (args.cursor !== undefined) {
        const [time, id] = decodeCursor(args.cursor, ["number", "number"]);
        where.push("(time < ? OR (time = ? AND id < ?))");
        params.push(time, time, id);
      }
      const rows = env.store.query<Record<string, string | number>>(
        `SELECT id, time, client, domain, reported, malicious, verified, decision, answered
           FROM veridns_events${where.length ? ` WHERE ${where.join(" AND ")}` : ""}
          ORDER BY time DESC, id DESC LIMIT ?`,
        ...params,
        args.limit + 1,
      );
      const more = rows.length > args.limit;
      if (more) rows.length = args.limit;
      const page: Page = {
        rows: rows.map(({ id: _id, ...r }) => ({
          ...r,
          time: new Date(Number(r.time)).toISOString(),
        })),
      };
      const last = rows[rows.length - 1];
      if (more && last) page.next_cursor = encodeCursor([Number(last.time), Number(last.id)]);
      return page;
    },
  }),
];

/** Help lines of the component's verb groups. */
export const veridnsVerbGroups: Record<string, string> = { veridns: "VeriDNS verifications" };
