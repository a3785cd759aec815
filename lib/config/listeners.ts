/**
 * Listener clashes: every key marked `listens` in the schema (DNS, VeriDNS,
 * remote control, and whatever declares one later) is collected from the
 * enabled sections, and two that would bind the same address, port and
 * protocol are reported before a component loops in EADDRINUSE at run time.
 *
 * @module
 */

import { formatIp, parseHostPort, parseIp } from "../net/mod.ts";
import { pathText } from "./positions.ts";
import {
  isField,
  type ListenProtocol,
  type Section,
  type Spec,
  type TableArray,
} from "./schema.ts";

/** One address a key listens on. */
interface Listener {
  path: string;
  protocols: ListenProtocol[];
  host: string;
  port: number;
  wildcard: boolean;
  v6: boolean;
}

/** Two keys that would bind the same address, port and protocol. */
export interface ListenerClash {
  /** The later key, where the problem is reported. */
  path: string;
  /** The earlier key it clashes with. */
  other: string;
  /** What both would bind, such as `TCP 127.0.0.1:5300`. */
  what: string;
}

/**
 * Finds every pair of listening addresses in `config` that would clash.
 * Sections with `enabled = false` listen on nothing.
 */
export function listenerClashes(schema: Section<Spec>, config: unknown): ListenerClash[] {
  const found: Listener[] = [];
  collect(schema, config, [], found);
  const clashes: ListenerClash[] = [];
  for (let i = 0; i < found.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = found[j], b = found[i];
      if (a.port !== b.port || a.v6 !== b.v6) continue;
      // A wildcard address binds the port on every address of its family.
      if (a.host !== b.host && !a.wildcard && !b.wildcard) continue;
      const shared = b.protocols.filter((p) => a.protocols.includes(p));
      if (shared.length === 0) continue;
      const host = b.v6 ? `[${b.host}]` : b.host;
      clashes.push({
        path: b.path,
        other: a.path,
        what: `${shared.map((p) => p.toUpperCase()).join(" and ")} ${host}:${b.port}`,
      });
      break;
    }
  }
  return clashes;
}

function collect(
  schema: Section<Spec> | TableArray<Spec>,
  value: unknown,
  path: (string | number)[],
  out: Listener[],
): void {
  if (schema.kind === "table-array") {
    if (!Array.isArray(value)) return;
    value.forEach((item, i) => collect(schema.item, item, [...path, i], out));
    return;
  }
  if (value === null || typeof value !== "object") return;
  const table = value as Record<string, unknown>;
  if ("enabled" in schema.fields && table.enabled === false) return;
  for (const [key, spec] of Object.entries(schema.fields)) {
    if (!isField(spec)) {
      collect(spec, table[key], [...path, key], out);
      continue;
    }
    if (!spec.listens) continue;
    const v = table[key];
    const entries: [(string | number)[], unknown][] = Array.isArray(v)
      ? v.map((x, i) => [[...path, key, i], x])
      : [[[...path, key], v]];
    for (const [at, text] of entries) {
      if (typeof text !== "string") continue;
      const hp = parseHostPort(text, spec.listens.defaultPort);
      if (typeof hp === "string") continue;
      const bytes = parseIp(hp.host);
      if (!bytes) continue;
      out.push({
        path: pathText(at),
        protocols: spec.listens.protocols,
        host: formatIp(bytes),
        port: hp.port,
        wildcard: bytes.every((b) => b === 0),
        v6: bytes.length === 16,
      });
    }
  }
}
