/**
 * The `[metrics]` config section and its checks: the token file must be
 * readable (`config check`, load, reload), and the listen address must be
 * free when the daemon starts or a reload moves it (a live check: `config
 * check` beside a running daemon would see the daemon's own socket).
 *
 * @module
 */

import type { ConfigCheck } from "../config/mod.ts";
import { bool, hostPort, Section, type SectionValue, str } from "../config/schema.ts";
import { parseHostPort } from "../net/mod.ts";

/** Default port of `/metrics` (registered for vigia in no list; close to node_exporter's 9100 range). */
export const DEFAULT_METRICS_PORT = 9553;

/** Schema of `[metrics]`. */
export const metricsSection = new Section(
  "Prometheus metrics at http://LISTEN/metrics (OpenMetrics when the scraper asks for it).",
  {
    enabled: bool({ doc: "Serve the metrics.", default: true }),
    listen: hostPort({
      doc: "Address of the HTTP listener, IP:PORT.",
      default: `127.0.0.1:${DEFAULT_METRICS_PORT}`,
      defaultPort: DEFAULT_METRICS_PORT,
      listens: ["tcp"],
    }),
    token_file: str({
      doc:
        'File holding a bearer token that every scrape must send (Authorization: Bearer TOKEN); "" serves without one.',
      default: "",
    }),
  },
);

/** Validated `[metrics]`. */
export type MetricsConfig = SectionValue<typeof metricsSection>;

/** Reads the bearer token of `path`; throws with the reason when it cannot. */
export function readToken(path: string): string {
  const token = Deno.readTextFileSync(path).trim();
  if (token === "") throw new Error("the file is empty");
  return token;
}

/** The token file, when set, must be readable and not empty. */
export const tokenFileCheck: ConfigCheck<{ metrics: MetricsConfig }> = (config, report) => {
  const { enabled, token_file } = config.metrics;
  if (!enabled || token_file === "") return;
  try {
    readToken(token_file);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (e as Error).message;
    report("metrics.token_file", `cannot read ${token_file}: ${why}`);
  }
};

/**
 * The listen address must be free when the metrics listener opens it: at
 * daemon start (`running` undefined) or when a reload changes it.
 */
export function listenCheck(
  running: { metrics: MetricsConfig } | undefined,
): ConfigCheck<{ metrics: MetricsConfig }> {
  return (config, report) => {
    const { enabled, listen } = config.metrics;
    if (!enabled) return;
    if (running?.metrics.enabled && running.metrics.listen === listen) return;
    const hp = parseHostPort(listen, DEFAULT_METRICS_PORT);
    if (typeof hp === "string") return;
    try {
      Deno.listen({ hostname: hp.host, port: hp.port }).close();
    } catch (e) {
      const why = e instanceof Deno.errors.AddrInUse
        ? "the address is in use"
        : (e as Error).message;
      report("metrics.listen", `cannot listen on ${listen}: ${why}`);
    }
  };
}
