/**
 * `[[dns.tsig_key]]` and `[[dns.transfer]]` read into a
 * {@linkcode TransferPolicyInit} (secret files read here), and their
 * `config check`: each key usable, each rule's and each secondary zone's
 * key defined, no secondary zone twice.
 *
 * @module
 */

import type { ConfigCheck } from "../config/mod.ts";
import type { DnsConfig } from "./config.ts";
import { parseTsigKey, tsigKeyLookup, type TsigKeyText } from "./tsig.ts";
import type { TransferPolicyInit } from "./xfr_out.ts";

/** A problem with a config key path (`dns.tsig_key[0].secret`). */
export interface TransferConfigProblem {
  /** Config key path. */
  path: string;
  /** What is wrong. */
  message: string;
}

/** Reads keys (and their secret files) and rules; problems name their config key. */
export function transferPolicyInit(
  dns: DnsConfig,
): { init: TransferPolicyInit; problems: TransferConfigProblem[] } {
  const problems: TransferConfigProblem[] = [];
  const keys: TsigKeyText[] = [];
  const names = new Set<string>();
  dns.tsig_key.forEach((k, i) => {
    const at = `dns.tsig_key[${i}]`;
    if ((k.secret === "") === (k.secret_file === "")) {
      problems.push({ path: at, message: "give exactly one of secret and secret_file" });
      return;
    }
    let secret = k.secret;
    if (k.secret_file) {
      try {
        secret = Deno.readTextFileSync(k.secret_file).trim();
      } catch (e) {
        const reason = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
        problems.push({
          path: `${at}.secret_file`,
          message: `cannot read ${k.secret_file}: ${reason}`,
        });
        return;
      }
    }
    const text = { name: k.name, algorithm: k.algorithm, secret };
    try {
      parseTsigKey(text);
    } catch (e) {
      problems.push({
        path: `${at}.${k.secret_file ? "secret_file" : "secret"}`,
        message: (e as Error).message,
      });
      return;
    }
    const lookup = tsigKeyLookup(k.name);
    if (names.has(lookup)) {
      problems.push({ path: `${at}.name`, message: `key ${k.name} is defined twice` });
      return;
    }
    names.add(lookup);
    keys.push(text);
  });
  const transfers = dns.transfer.filter((t, i) => {
    if (t.key && !names.has(tsigKeyLookup(t.key))) {
      problems.push({
        path: `dns.transfer[${i}].key`,
        message: `no dns.tsig_key named ${t.key} (defined: ${
          dns.tsig_key.map((k) => k.name).join(", ") || "none"
        })`,
      });
      return false;
    }
    return true;
  });
  const origins = new Set<string>();
  const secondaries = dns.secondary.filter((z, i) => {
    const origin = zoneText(z.origin);
    if (origins.has(origin)) {
      problems.push({
        path: `dns.secondary[${i}].origin`,
        message: `zone ${origin} is already a dns.secondary zone`,
      });
      return false;
    }
    origins.add(origin);
    if (z.key && !names.has(tsigKeyLookup(z.key))) {
      problems.push({
        path: `dns.secondary[${i}].key`,
        message: `no dns.tsig_key named ${z.key} (defined: ${
          dns.tsig_key.map((k) => k.name).join(", ") || "none"
        })`,
      });
      return false;
    }
    return true;
  }).map((z) => ({ zone: zoneText(z.origin), primaries: z.primaries, key: z.key }));
  return { init: { keys, transfers, secondaries }, problems };
}

/** An apex as vigia keys it: absolute, lower case. */
export function zoneText(origin: string): string {
  const t = origin.toLowerCase();
  return t.endsWith(".") ? t : `${t}.`;
}

/** `config check` for keys and transfer rules. */
export const checkDnsTransfers: ConfigCheck<{ dns: DnsConfig | undefined }> = (
  config,
  report,
) => {
  const dns = config.dns;
  if (!dns || !dns.enabled) return;
  for (const p of transferPolicyInit(dns).problems) report(p.path, p.message);
};
