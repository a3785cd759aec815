/**
 * The `[control.remote]` config section: the control API over TLS for
 * clients on other machines, with hashed bearer tokens and roles.
 *
 * @module
 */

import {
  bool,
  duration,
  type Field,
  hostPort,
  int,
  list,
  Section,
  section,
  type SectionValue,
  str,
  tableArray,
  ValueError,
} from "../config/schema.ts";
import { parseTokenHash, ROLES } from "./token.ts";

/** Port of `vigia ctl --remote HOST` when none is given, and of the default listen address. */
export const DEFAULT_REMOTE_PORT = 7443;

function tokenHash(): Field<string> {
  const base = str({
    doc:
      "Salted PBKDF2-SHA256 hash of the token, as printed by `vigia token new` (the token itself is never stored).",
    default: "",
  });
  return {
    ...base,
    expects: "a token hash pbkdf2-sha256$ITERATIONS$SALT$KEY",
    validate(raw) {
      const text = base.validate(raw);
      const parsed = parseTokenHash(text);
      if (typeof parsed === "string") throw new ValueError(parsed);
      return text;
    },
  };
}

/** Schema of `[control.remote]`. */
export const remoteSection = new Section(
  "Remote access to the control API over TLS (`vigia ctl --remote`), with tokens and roles. " +
    "The local socket stays as it is.",
  {
    enabled: bool({ doc: "Serve the control API over TLS.", default: false }),
    listen: list(
      hostPort({ doc: "address", default: "", defaultPort: DEFAULT_REMOTE_PORT, listens: ["tcp"] }),
      {
        doc: "TCP addresses IP:PORT to listen on.",
        default: [`127.0.0.1:${DEFAULT_REMOTE_PORT}`],
        reference: [`0.0.0.0:${DEFAULT_REMOTE_PORT}`],
        min: 1,
      },
    ),
    cert: str({
      doc:
        'PEM certificate (chain); "" makes a self-signed one under paths.state_dir and logs its SHA-256 fingerprint.',
      default: "",
      reference: "",
    }),
    key: str({ doc: "PEM private key of the certificate.", default: "" }),
    max_connections: int({
      doc: "Concurrent remote connections at most; further ones are refused.",
      default: 64,
      min: 1,
      max: 10_000,
    }),
    max_connections_per_ip: int({
      doc: "Concurrent remote connections from one client address at most.",
      default: 8,
      min: 1,
      max: 10_000,
    }),
    max_request_bytes: int({
      doc: "Largest request line accepted from a remote client.",
      default: 65536,
      min: 1024,
      max: 16_777_216,
    }),
    requests_per_second: int({
      doc:
        "Requests per second per connection (bursts of twice this); faster requests are refused.",
      default: 20,
      min: 1,
      max: 100_000,
    }),
    handshake_timeout: duration({
      doc: "A client must finish the TLS handshake within this time.",
      default: "5s",
      minMs: 100,
    }),
    idle_timeout: duration({
      doc: "A connection with no complete request for this long is closed.",
      default: "30s",
      minMs: 100,
    }),
    auth_failures: int({
      doc: "Failed authentications (no token or a wrong token) from one client address within " +
        "auth_failure_window before that address is refused for auth_ban. A valid token asking " +
        "for a verb above its role is refused and audited but does not count.",
      default: 5,
      min: 1,
      max: 10_000,
    }),
    auth_failure_window: duration({ doc: "Window of auth_failures.", default: "1m" }),
    auth_ban: duration({
      doc: "How long an address that failed too often is refused.",
      default: "5m",
    }),
    token: tableArray(
      "Tokens allowed in. Make one with `vigia token new --role read|admin --name NAME`, " +
        "which prints the token once and these lines. Roles: read (status, stats, logs, devices, " +
        "alerts, scan results, zone list, deny lists) or admin (everything).",
      section("One token.", {
        name: str({
          doc: "Who holds it (shown in the audit trail).",
          default: "",
          nonEmpty: true,
        }),
        role: str({ doc: "What it may do.", default: "read", oneOf: [...ROLES] }),
        hash: tokenHash(),
      }),
      {
        example: [{
          name: "analyst",
          role: "read",
          hash:
            "pbkdf2-sha256$100000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        }],
      },
    ),
  },
);

/** Validated `[control.remote]`. */
export type RemoteConfig = SectionValue<typeof remoteSection>;
