/**
 * TSIG (RFC 8945) signing and checking against itself (the interop with
 * kdig, NSD and Knot is in xfr_out_test.ts and peers_test.ts), and
 * `vigia tsig new`, whose output pasted into a config passes `config check`.
 */

import assert from "node:assert/strict";
import { runVigia } from "../_helpers.ts";
import {
  findTsig,
  keyring,
  newTsigSecret,
  parseTsigKey,
  signMessage,
  TSIG_ERROR,
  verifyTsig,
} from "../../lib/dns/tsig.ts";

const QUERY = new Uint8Array([
  0xab,
  0xcd,
  0,
  0,
  0,
  1,
  0,
  0,
  0,
  0,
  0,
  0,
  4,
  0x74,
  0x65,
  0x73,
  0x74,
  0,
  0,
  6,
  0,
  1,
]);

for (const algorithm of ["hmac-sha256", "hmac-sha512", "hmac-sha1"]) {
  Deno.test(`TSIG ${algorithm}: signed, found, verified; a changed byte is BADSIG, time past the fudge BADTIME`, () => {
    const key = parseTsigKey({ name: "Xfr-Key", algorithm, secret: newTsigSecret(algorithm) });
    assert.equal(key.name, "xfr-key.");
    const { message, mac } = signMessage(QUERY, key, { timeSigned: 1_800_000_000 });
    assert.equal(message[11], 1, "ARCOUNT raised");
    const tsig = findTsig(message);
    assert.ok(tsig && tsig !== "malformed");
    assert.equal(tsig.keyName, "xfr-key.");
    assert.equal(tsig.algorithm, algorithm);
    assert.deepEqual([...tsig.mac], [...mac]);
    const ring = keyring([key]);
    assert.equal(verifyTsig(message, tsig, { keys: ring, now: 1_800_000_100 }).error, 0);
    assert.equal(
      verifyTsig(message, tsig, { keys: ring, now: 1_800_000_301 }).error,
      TSIG_ERROR.BADTIME,
    );
    const changed = message.slice();
    changed[13] ^= 1;
    const t2 = findTsig(changed);
    assert.ok(t2 && t2 !== "malformed");
    assert.equal(
      verifyTsig(changed, t2, { keys: ring, now: 1_800_000_000 }).error,
      TSIG_ERROR.BADSIG,
    );
    assert.equal(verifyTsig(message, tsig, { keys: new Map() }).error, TSIG_ERROR.BADKEY);
    // A message cut inside its TSIG is malformed, never a crash.
    assert.equal(findTsig(message.subarray(0, message.length - 3)), "malformed");
  });
}

Deno.test("a secret that is not base64 or too short is refused with a clear message", () => {
  assert.throws(
    () => parseTsigKey({ name: "k", algorithm: "hmac-sha256", secret: "not base64!" }),
    /not base64/,
  );
  assert.throws(
    () => parseTsigKey({ name: "k", algorithm: "hmac-sha256", secret: "AAAA" }),
    /too short/,
  );
  assert.throws(
    () => parseTsigKey({ name: "k", algorithm: "hmac-md5", secret: newTsigSecret("hmac-sha1") }),
    /unknown TSIG algorithm/,
  );
});

Deno.test("vigia tsig new prints a key whose config lines pass config check", async () => {
  const made = await runVigia(["tsig", "new", "xfr-key", "--algorithm", "hmac-sha512", "--json"]);
  assert.equal(made.code, 0, made.stderr);
  const key = JSON.parse(made.stdout) as { name: string; secret: string; toml: string };
  assert.equal(key.name, "xfr-key.");
  assert.equal(atob(key.secret).length, 64);
  const dir = await Deno.makeTempDir({ prefix: "vigia-tsig-" });
  try {
    const config = `${dir}/vigia.toml`;
    await Deno.writeTextFile(
      config,
      `[dns]\n${key.toml}` +
        `\n[[dns.transfer]]\nallow = ["127.0.0.1"]\nkey = "xfr-key."\n` +
        `\n[[dns.transfer]]\nallow = ["127.0.0.1"]\nkey = "missing-key."\n`,
    );
    const check = await runVigia(["config", "check", "--config", config]);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(
      check.stdout + check.stderr,
      /dns\.transfer\[1\]\.key: no dns\.tsig_key named missing-key\./,
    );
    assert.doesNotMatch(check.stdout + check.stderr, /tsig_key\[0\]|transfer\[0\]/);
    const human = await runVigia(["tsig", "new", "k2."]);
    assert.match(
      human.stdout,
      /\[\[dns\.tsig_key\]\]\nname = "k2\."\nalgorithm = "hmac-sha256"\nsecret = "[A-Za-z0-9+\/=]{44}"/,
    );
    const bad = await runVigia(["tsig", "new", "k3", "--algorithm", "md5"]);
    assert.equal(bad.code, 2, bad.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
