/**
 * `vigia veridns branch|verify`: the VeriDNS client on the command line.
 *
 * ```
 * vigia veridns branch --server HOST[:PORT] [--ca FILE|--insecure] [--json]
 * vigia veridns verify --server HOST[:PORT] DOMAIN IP... [--ca FILE|--insecure] [--json]
 * ```
 *
 * Exit codes: 0 the server answered (and, for `verify`, every address checks
 * out), 1 the exchange failed (message on stderr), 2 usage error, 3 `verify`
 * got an answer and it is "NOT verified" (so scripts can tell a verdict from a
 * failure).
 *
 * @module
 */

import type { Argv } from "yargs";
import { parseServer, veridnsBranch, VeridnsClientError, veridnsVerify } from "../veridns/mod.ts";
import { exit } from "./ctl.ts";
import { UsageError } from "./common.ts";

interface CommonArgs {
  server: string;
  ca?: string;
  insecure?: boolean;
  json?: boolean;
  timeout?: number;
}

function commonOptions(b: Argv): Argv {
  return b
    .option("server", {
      type: "string",
      demandOption: true,
      describe: "VeriDNS server HOST[:PORT] (port 4433 when left out)",
    })
    .option("ca", { type: "string", describe: "PEM file of the CA or certificate to trust" })
    .option("insecure", {
      type: "boolean",
      describe: "do not verify the server's certificate",
      conflicts: "ca",
    })
    .option("json", { type: "boolean", describe: "print one JSON document" })
    .option("timeout", {
      type: "number",
      default: 10000,
      describe: "milliseconds for connecting and for the answer",
    })
    .check((argv: Record<string, unknown>) => {
      parseServer(String(argv.server)); // throws a usage error with the text seen
      const t = argv.timeout as number;
      if (!Number.isFinite(t) || t <= 0) throw new Error("--timeout must be a positive number");
      return true;
    });
}

/** Exit code of `veridns verify` when the server answered "NOT verified". */
export const EXIT_NOT_VERIFIED = 3;

/**
 * Runs `work`, which returns its exit code when it completes (0 unless a
 * verdict says otherwise); a failed exchange is exit 1 with the message, bad
 * input a usage error (exit 2).
 */
async function run(work: () => Promise<number | void>): Promise<void> {
  try {
    exit.code = (await work()) ?? 0;
  } catch (e) {
    if (e instanceof TypeError) throw new UsageError(e.message); // bad address or domain
    const message = e instanceof VeridnsClientError ? e.message : (e as Error).message;
    console.error(`vigia veridns: ${message}`);
    exit.code = 1;
  }
}

/** Adds the `veridns` command and its `branch` and `verify` subcommands. */
export function veridnsCommand(y: Argv): Argv {
  return y.command(
    "veridns",
    "VeriDNS client: branch servers for this client, or verification of DNS answers",
    (c: Argv) =>
      c
        .command(
          "branch",
          "ask a VeriDNS server for the branch servers of this client",
          (b: Argv) => commonOptions(b),
          (argv: Record<string, unknown>) =>
            run(async () => {
              const a = argv as unknown as CommonArgs;
              const r = await veridnsBranch({
                server: a.server,
                ca: a.ca,
                insecure: a.insecure,
                timeoutMs: a.timeout,
              });
              if (a.json) {
                console.log(
                  JSON.stringify({ server: a.server, seq: r.seq, addresses: r.addresses }),
                );
              } else for (const addr of r.addresses) console.log(addr);
            }),
        )
        .command(
          "verify <domain> <ips..>",
          "ask a VeriDNS server whether IPv4 addresses seen for DOMAIN are legitimate",
          (b: Argv) =>
            commonOptions(b)
              .positional("domain", {
                type: "string",
                describe: "domain name the answers were for",
              })
              .positional("ips", { type: "string", array: true, describe: "IPv4 addresses seen" }),
          (argv: Record<string, unknown>) =>
            run(async () => {
              const a = argv as unknown as CommonArgs & { domain: string; ips: string[] };
              const r = await veridnsVerify({
                server: a.server,
                ca: a.ca,
                insecure: a.insecure,
                timeoutMs: a.timeout,
                domain: String(a.domain),
                addresses: a.ips.map(String),
              });
              if (a.json) {
                console.log(JSON.stringify({
                  server: a.server,
                  domain: a.domain,
                  seq: r.seq,
                  verified: r.verified,
                  malicious: r.malicious,
                }));
              } else if (r.verified) {
                console.log(`verified: every address checks out for ${a.domain}`);
              } else console.log(`NOT verified: malicious ${r.malicious.join(" ")}`);
              return r.verified ? 0 : EXIT_NOT_VERIFIED;
            }),
        )
        .demandCommand(1, "name a veridns command: branch, verify"),
  );
}
