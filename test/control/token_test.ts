import assert from "node:assert/strict";
import {
  hashToken,
  looksLikeToken,
  newToken,
  parseTokenHash,
  roleAllows,
  verifyToken,
} from "../../lib/control/token.ts";
import { FailureTracker, TokenBucket } from "../../lib/control/limits.ts";
import { authoriseRemote, clientKey } from "../../lib/control/remote.ts";
import { normaliseFingerprint, parseRemoteAddress } from "../../lib/control/remote_client.ts";
import { makeToken } from "../../lib/cli/token.ts";
import { components } from "../../lib/app/mod.ts";
import { verbCatalogue, verbRoles } from "../../lib/daemon/mod.ts";

Deno.test("token: fresh tokens are distinct, well-formed, and verify only against their own hash", async () => {
  const a = newToken(), b = newToken();
  assert.notEqual(a, b);
  assert.ok(looksLikeToken(a));
  assert.match(a, /^vgt_[A-Za-z0-9_-]{43}$/);
  const hash = await hashToken(a, { iterations: 10_000 });
  assert.match(hash, /^pbkdf2-sha256\$10000\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  assert.equal(await verifyToken(a, hash), true);
  assert.equal(await verifyToken(b, hash), false);
  assert.equal(await verifyToken(a.slice(0, -1) + (a.endsWith("A") ? "B" : "A"), hash), false);
  // Salted: the same token hashes differently each time, and both verify.
  const again = await hashToken(a, { iterations: 10_000 });
  assert.notEqual(again, hash);
  assert.equal(await verifyToken(a, again), true);
  assert.equal(await verifyToken(a, "garbage"), false);
});

Deno.test("token: hash strings are checked with clear messages", () => {
  assert.match(String(parseTokenHash("")), /expected "pbkdf2-sha256\$ITERATIONS\$SALT\$KEY"/);
  assert.match(
    String(parseTokenHash(`pbkdf2-sha256$999$${"A".repeat(22)}$${"A".repeat(43)}`)),
    /at least 10000 PBKDF2 iterations needed, found 999/,
  );
  const ok = parseTokenHash(`pbkdf2-sha256$100000$${"A".repeat(22)}$${"A".repeat(43)}`);
  assert.equal(typeof ok, "object");
  assert.equal((ok as { key: Uint8Array }).key.length, 32);
});

Deno.test("roles: each verb declares its role; read verbs change nothing; unknown verbs are admin-only", () => {
  const roles = verbRoles(verbCatalogue(components));
  const read = [
    "status",
    "stats",
    "logs",
    "devices",
    "alerts",
    "captures",
    "scan results",
    "zone list",
    "zone status",
    "deny dns list",
    "deny mac list",
    "veridns events",
  ];
  for (const v of read) {
    assert.equal(roles(v), "read", v);
    assert.equal(roleAllows("read", roles(v)), true, v);
  }
  for (
    const v of [
      "reload",
      "stop",
      "deny dns add",
      "deny mac del",
      "zone add",
      "scan run",
      "captures del",
      "nope",
    ]
  ) {
    assert.equal(roles(v), "admin", v);
    assert.equal(roleAllows("read", roles(v)), false, v);
    assert.equal(roleAllows("admin", roles(v)), true, v);
  }
  // Every verb of the catalogue is one or the other, and those listed are all the read ones.
  const declaredRead = verbCatalogue(components).verbs.filter((v) => v.role === "read")
    .map((v) => v.name);
  assert.deepEqual(declaredRead.sort(), [...read].sort());
  // The daemon's own check: local passes, remote needs an accepted role.
  authoriseRemote("reload", { transport: "local" }, roles);
  assert.throws(
    () => authoriseRemote("status", { transport: "remote", address: "x:1" }, roles),
    /without an accepted token/,
  );
  assert.throws(
    () => authoriseRemote("reload", { transport: "remote", role: "read" } as never, roles),
    /role "read" does not allow "reload"/,
  );
});

Deno.test("token new: config lines and name checks", async () => {
  const t = await makeToken("night-shift", "admin");
  assert.equal(
    t.toml,
    `[[control.remote.token]]\nname = "night-shift"\nrole = "admin"\nhash = "${t.hash}"\n`,
  );
  assert.equal(await verifyToken(t.token, t.hash), true);
  await assert.rejects(makeToken('a"b', "read"), /--name must be/);
  await assert.rejects(makeToken("x", "root"), /--role must be one of read, admin: got "root"/);
});

Deno.test("limits: token bucket and failure bans", () => {
  const b = new TokenBucket(2, 4, 0);
  const taken = Array.from({ length: 6 }, () => b.take(0)).filter(Boolean).length;
  assert.equal(taken, 4, "burst");
  assert.equal(b.take(400), false, "0.8 tokens after 400 ms");
  assert.equal(b.take(500), true, "1 token after 500 ms");
  const f = new FailureTracker({ failures: 3, windowMs: 1000, banMs: 5000 });
  assert.equal(f.fail("a", 0), false);
  assert.equal(f.fail("a", 100), false);
  assert.equal(f.fail("a", 1500), false, "the first two left the window");
  assert.equal(f.fail("a", 1600), false);
  assert.equal(f.fail("a", 1700), true, "third in the window bans");
  assert.equal(f.bannedFor("a", 1700), 5000);
  assert.equal(f.bannedFor("b", 1700), 0);
  assert.deepEqual(f.banned(2000), ["a"]);
  assert.equal(f.bannedFor("a", 6700), 0, "ban over");
});

Deno.test("clientKey: IPv4 as is, IPv4-mapped unwrapped, IPv6 by /64", () => {
  assert.equal(clientKey("192.0.2.7"), "192.0.2.7");
  assert.equal(clientKey("::ffff:192.0.2.7"), "192.0.2.7");
  assert.equal(clientKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(clientKey("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
});

Deno.test("remote client: address and fingerprint parsing", () => {
  assert.deepEqual(parseRemoteAddress("10.0.0.5:9000"), { host: "10.0.0.5", port: 9000 });
  assert.deepEqual(parseRemoteAddress("vigia.example.org"), {
    host: "vigia.example.org",
    port: 7443,
  });
  assert.deepEqual(parseRemoteAddress("[::1]:8443"), { host: "::1", port: 8443 });
  assert.deepEqual(parseRemoteAddress("::1"), { host: "::1", port: 7443 });
  assert.match(
    String(parseRemoteAddress("host:99999")),
    /port in "host:99999" must be from 1 to 65535/,
  );
  assert.match(String(parseRemoteAddress("a b:1")), /is not HOST:PORT/);
  const hex = "ab".repeat(32);
  const want = Array(32).fill("AB").join(":");
  assert.equal(normaliseFingerprint(hex), want);
  assert.equal(normaliseFingerprint(`SHA256:${want.toLowerCase()}`), want);
  assert.equal(normaliseFingerprint("AB:CD"), null);
});
