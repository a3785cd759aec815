/**
 * The remote listener in-process (real TLS sockets on loopback, a recording
 * alert publisher, and a dispatch that records what reached the daemon): the
 * origin handed to the daemon, audit subjects, IPv6, a configured
 * certificate, and start-up errors.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { AlertInput } from "../../lib/alerts/mod.ts";
import { createLogger } from "../../lib/log/mod.ts";
import { callControl, type ControlRequest, type RequestOrigin } from "../../lib/control/mod.ts";
import {
  authoriseRemote,
  type RemoteConfig,
  RemoteControl,
  type RemoteOrigin,
} from "../../lib/control/remote.ts";
import { remoteTarget } from "../../lib/control/remote_client.ts";
import { hashToken, newToken } from "../../lib/control/token.ts";
import { generateSelfSigned } from "../../lib/tls/mod.ts";
import { freePort } from "../_helpers.ts";
import { components } from "../../lib/app/mod.ts";
import { verbCatalogue, verbRoles } from "../../lib/daemon/mod.ts";

function section(overrides: Partial<RemoteConfig>): RemoteConfig {
  return {
    enabled: true,
    listen: [],
    cert: "",
    key: "",
    max_connections: 8,
    max_connections_per_ip: 4,
    max_request_bytes: 4096,
    requests_per_second: 50,
    handshake_timeout: 1000,
    idle_timeout: 2000,
    auth_failures: 5,
    auth_failure_window: 60_000,
    auth_ban: 60_000,
    token: [],
    ...overrides,
  };
}

/** The roles of the real verbs; a test verb ("fail", ...) needs admin like any unknown verb. */
const roles = verbRoles(verbCatalogue(components));

async function harness(overrides: Partial<RemoteConfig>) {
  const dir = await Deno.makeTempDir({ prefix: "vigia-remote-unit-" });
  const alerts: AlertInput[] = [];
  const seen: { request: ControlRequest; origin: RequestOrigin }[] = [];
  const remote = await RemoteControl.start(section(overrides), {
    stateDir: dir,
    dispatch: (request, origin) => {
      authoriseRemote(request.verb, origin, roles);
      seen.push({ request, origin });
      if (request.verb === "fail") throw new Error("it failed");
      return Promise.resolve({ verb: request.verb });
    },
    roles,
    audit: {
      publish: (a) => {
        alerts.push(a);
        return true;
      },
    },
    log: createLogger({ level: "error" }),
  }).catch(async (e) => {
    await Deno.remove(dir, { recursive: true });
    throw e;
  });
  return { dir, remote, alerts, seen };
}

Deno.test({
  name: "remote listener: IPv6, the accepted origin, distinct audit subjects, no token downstream",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const admin = newToken();
    const port = freePort("::1");
    const h = await harness({
      listen: [`[::1]:${port}`],
      token: [{ name: "ops", role: "admin", hash: await hashToken(admin) }],
    });
    try {
      assert.deepEqual(h.remote.addresses, [`[::1]:${port}`]);
      const target = remoteTarget(`[::1]:${port}`, {
        token: admin,
        fingerprint: h.remote.fingerprint,
      });
      assert.deepEqual(await callControl(target, "status"), { verb: "status" });
      for (let i = 0; i < 2; i++) {
        await callControl(target, "deny dns add", { args: { value: "203.0.113.9" } });
      }
      await assert.rejects(callControl(target, "fail"), /it failed/);
      const origin = h.seen[0].origin as RemoteOrigin;
      assert.equal(origin.transport, "remote");
      assert.equal(origin.token_name, "ops");
      assert.equal(origin.role, "admin");
      assert.match(origin.address, /^::1:\d+$/);
      for (const s of h.seen) assert.equal(s.request.token, undefined, "token not passed on");
      const audit = h.alerts.filter((a) => a.kind === "remote-admin");
      assert.equal(audit.length, 3, "status is a read; two adds and one failure are audited");
      assert.equal(new Set(audit.map((a) => a.subject)).size, 3, "subjects are distinct");
      assert.match(audit[0].subject, /^ops@::1: deny dns add \{"value":"203\.0\.113\.9"\} #1$/);
      assert.equal(audit[2].details!.result, "error");
      assert.equal(audit[2].details!.error, "it failed");
    } finally {
      await h.remote.close();
      await Deno.remove(h.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "remote listener: a configured certificate is served; bad settings stop the start",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const made = await generateSelfSigned({ commonName: "ops.test", altNames: ["127.0.0.1"] });
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(`${dir}/c.pem`, made.certPem);
    await Deno.writeTextFile(`${dir}/k.pem`, made.keyPem);
    const read = newToken();
    const port = freePort();
    const h = await harness({
      listen: [`127.0.0.1:${port}`],
      cert: `${dir}/c.pem`,
      key: `${dir}/k.pem`,
      token: [{ name: "a", role: "read", hash: await hashToken(read) }],
    });
    try {
      assert.equal(h.remote.fingerprint, made.fingerprint);
      const st = await callControl(
        remoteTarget(`127.0.0.1:${port}`, { token: read, ca: made.certPem }),
        "status",
      );
      assert.deepEqual(st, { verb: "status" });
      // Taken port, one of cert/key, duplicate token names, missing hash: clear errors.
      await assert.rejects(harness({ listen: [`127.0.0.1:${port}`] }), /cannot listen on/);
      await assert.rejects(
        harness({ listen: [`127.0.0.1:${freePort()}`], cert: `${dir}/c.pem` }),
        /give both cert and key/,
      );
      const hash = await hashToken(read);
      await assert.rejects(
        harness({
          listen: [`127.0.0.1:${freePort()}`],
          token: [{ name: "a", role: "read", hash }, { name: "a", role: "admin", hash }],
        }),
        /control\.remote\.token\[1\]: name "a" is used twice/,
      );
      await assert.rejects(
        harness({
          listen: [`127.0.0.1:${freePort()}`],
          token: [{ name: "b", role: "admin", hash: "" }],
        }),
        /hash is missing \(make one with: vigia token new --role admin\)/,
      );
    } finally {
      await h.remote.close();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(h.dir, { recursive: true });
    }
  },
});
