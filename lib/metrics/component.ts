/**
 * The `metrics` component: an HTTP listener that answers `GET /metrics`
 * with the registry in the Prometheus text format, or OpenMetrics when the
 * Accept header asks for it, behind an optional bearer token. A scrape only
 * reads counters (typed arrays, shared with workers where they count), so it
 * never waits on a component.
 *
 * @module
 */

import type { Component, ComponentContext } from "../daemon/types.ts";
import { parseHostPort } from "../net/mod.ts";
import { DEFAULT_METRICS_PORT, type MetricsConfig, readToken } from "./config.ts";
import { negotiate, OPENMETRICS_TYPE, render, TEXT_TYPE } from "./exposition.ts";

/** Constant-time comparison of two tokens (no early exit on the first differing byte). */
function sameToken(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  }
  return diff === 0;
}

/** The running HTTP exposition. */
export class MetricsServer implements Component {
  readonly #ctx: ComponentContext<MetricsConfig>;
  #server: Deno.HttpServer | undefined;
  #token = "";
  #scrapes = 0;
  #refused = 0;
  #address = "";

  /** Builds the listener from its context; {@linkcode MetricsServer.start} binds it. */
  constructor(ctx: ComponentContext<MetricsConfig>) {
    this.#ctx = ctx;
  }

  /** Opens the listener; throws when the address cannot be bound or the token file read. */
  start(): Promise<void> {
    const { listen, token_file } = this.#ctx.section;
    if (token_file) this.#token = readToken(token_file);
    const hp = parseHostPort(listen, DEFAULT_METRICS_PORT);
    if (typeof hp === "string") throw new Error(hp);
    const registry = this.#ctx.metrics.registry;
    try {
      this.#server = Deno.serve({
        hostname: hp.host,
        port: hp.port,
        onListen: () => {},
        onError: () => new Response("internal error\n", { status: 500 }),
      }, (request) => this.#answer(request, registry));
    } catch (e) {
      const why = e instanceof Deno.errors.AddrInUse
        ? "the address is in use"
        : (e as Error).message;
      throw new Error(`metrics.listen: cannot listen on ${listen}: ${why}`);
    }
    this.#address = listen;
    return Promise.resolve();
  }

  #answer(request: Request, registry: ComponentContext["metrics"]["registry"]): Response {
    const url = new URL(request.url);
    if (url.pathname !== "/metrics") {
      return new Response("vigia: metrics are at /metrics\n", { status: 404 });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    if (this.#token) {
      const auth = request.headers.get("authorization") ?? "";
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      if (!m || !sameToken(m[1], this.#token)) {
        this.#refused++;
        return new Response("a bearer token is required\n", {
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="vigia metrics"' },
        });
      }
    }
    this.#scrapes++;
    const format = negotiate(request.headers.get("accept"));
    return new Response(request.method === "HEAD" ? null : render(registry, format), {
      headers: { "content-type": format === "openmetrics" ? OPENMETRICS_TYPE : TEXT_TYPE },
    });
  }

  /** Closes the listener. */
  async stop(): Promise<void> {
    await this.#server?.shutdown();
    this.#server = undefined;
  }

  /** The address served and whether a token is required. */
  status(): Record<string, unknown> {
    return { listen: this.#address, path: "/metrics", token: this.#token !== "" };
  }

  /** Scrapes answered and refused. */
  stats(): Record<string, unknown> {
    return { scrapes: this.#scrapes, refused: this.#refused };
  }
}
