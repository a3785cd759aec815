import assert from "node:assert/strict";
import { certificateFingerprint, ensureSelfSigned } from "../../lib/tls/mod.ts";

Deno.test("ensureSelfSigned makes a certificate Deno.listenTls accepts, and reuses it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-tls-" });
  try {
    const first = await ensureSelfSigned(`${dir}/sub`, {
      commonName: "vigia test",
      altNames: ["localhost", "127.0.0.1"],
    });
    assert.equal(first.created, true);
    assert.match(first.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal((await Deno.stat(first.keyPath)).mode! & 0o777, 0o600);

    // openssl is an independent oracle for the fingerprint and the SAN.
    const out = new Deno.Command("openssl", {
      args: [
        "x509",
        "-in",
        first.certPath,
        "-noout",
        "-fingerprint",
        "-sha256",
        "-ext",
        "subjectAltName",
      ],
    }).outputSync();
    const text = new TextDecoder().decode(out.stdout);
    assert.ok(text.includes(first.fingerprint), text);
    assert.match(text, /DNS:localhost/);
    assert.match(text, /IP Address:127\.0\.0\.1/);

    const cert = await Deno.readTextFile(first.certPath);
    assert.equal(await certificateFingerprint(cert), first.fingerprint);
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert,
      key: await Deno.readTextFile(first.keyPath),
    });
    const served = (async () => {
      const conn = await listener.accept();
      const buf = new Uint8Array(4);
      const n = await conn.read(buf);
      await conn.write(buf.subarray(0, n ?? 0));
      conn.close();
    })();
    const client = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: listener.addr.port,
      caCerts: [cert],
    });
    await client.write(new Uint8Array([1, 2, 3]));
    const back = new Uint8Array(4);
    assert.equal(await client.read(back), 3);
    client.close();
    await served;
    listener.close();

    const second = await ensureSelfSigned(`${dir}/sub`, { commonName: "vigia test" });
    assert.equal(second.created, false);
    assert.equal(second.fingerprint, first.fingerprint);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ensureSelfSigned replaces an unreadable pair", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-tls-" });
  try {
    await Deno.writeTextFile(`${dir}/x.crt`, "garbage");
    await Deno.writeTextFile(`${dir}/x.key`, "garbage");
    const made = await ensureSelfSigned(dir, { commonName: "x", basename: "x" });
    assert.equal(made.created, true);
    assert.match(await Deno.readTextFile(made.certPath), /BEGIN CERTIFICATE/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
