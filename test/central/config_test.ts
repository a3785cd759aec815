/**
 * `[central]` without a server: URL forms, sensor names, `config check`
 * errors at FILE:LINE:COL, the COPY text encoding, and the README's schema
 * table kept in step with the generated schema.
 */

import assert from "node:assert/strict";
import { repoRoot, runVigia } from "../_helpers.ts";
import {
  centralSchemaMarkdown,
  describeError,
  parseCentralUrl,
  sensorNameProblem,
} from "../../lib/central/mod.ts";
import { copyText, usToTimestamp } from "../../lib/central/encode.ts";

Deno.test("central: libpq URIs and key=value strings, never a password", () => {
  assert.deepEqual(parseCentralUrl("postgresql://vigia@db.example:6432/central"), {
    host: "db.example",
    port: 6432,
    database: "central",
    user: "vigia",
  });
  assert.deepEqual(parseCentralUrl("postgresql://vigia@/vigia?host=/run/postgresql"), {
    host: "/run/postgresql",
    port: 5432,
    database: "vigia",
    user: "vigia",
  });
  assert.deepEqual(parseCentralUrl("host=/tmp/pg port=5433 dbname=v user='a b'"), {
    host: "/tmp/pg",
    port: 5433,
    database: "v",
    user: "a b",
  });
  assert.match(String(parseCentralUrl("postgresql://u:secret@h/db")), /must not hold a password/);
  assert.match(String(parseCentralUrl("host=h password=secret")), /must not hold a password/);
  assert.match(String(parseCentralUrl("host=h sslmode=require")), /tls key/);
  assert.match(String(parseCentralUrl("host=h port=99999")), /not a port/);
  assert.match(String(parseCentralUrl("nonsense")), /neither a libpq URI nor key=value/);
});

Deno.test("central: sensor names", () => {
  assert.equal(sensorNameProblem("dp-recife.01_a"), null);
  assert.match(String(sensorNameProblem("-x")), /not a sensor name/);
  assert.match(String(sensorNameProblem("a b")), /not a sensor name/);
  assert.match(String(sensorNameProblem("x".repeat(64))), /not a sensor name/);
});

Deno.test("central: errors name the cause and never carry the password", () => {
  const secret = "hunter2-secret";
  const m = describeError(
    { code: "XX000", message: `something about ${secret}` },
    { host: "h", port: 5432, database: "d", user: "u" },
    secret,
  );
  assert.ok(!m.includes(secret));
  assert.match(m, /\*\*\*/);
  assert.match(describeError({ code: "28P01", message: "x" }), /password authentication failed/);
  assert.match(describeError({ code: "3D000", message: "x" }), /database does not exist/);
});

Deno.test("central: config check reports [central] problems at FILE:LINE:COL", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/v.toml`,
      `[central]\nenabled = true\nurl = "postgresql://u:pw@h/db"\nsensor = "bad name"\n` +
        `password_file = "${dir}/missing"\ntls = "sometimes"\n`,
    );
    const r = await runVigia(["config", "check", "--config", `${dir}/v.toml`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /v\.toml:6:7: central\.tls: expected one of "disable", "prefer"/);
    await Deno.writeTextFile(
      `${dir}/v.toml`,
      `[central]\nenabled = true\nurl = "postgresql://u:pw@h/db"\nsensor = "bad name"\n` +
        `password_file = "${dir}/missing"\n`,
    );
    const r2 = await runVigia(["config", "check", "--config", `${dir}/v.toml`]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /v\.toml:3:7: central\.url: the url must not hold a password/);
    assert.match(r2.stderr, /v\.toml:4:10: central\.sensor: "bad name" is not a sensor name/);
    assert.match(r2.stderr, /v\.toml:5:17: central\.password_file: cannot read the password/);
    assert.ok(!r2.stderr.includes("u:pw"), "the password in a bad url is not echoed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("central: COPY text escapes and µs timestamps", () => {
  assert.equal(copyText("a\tb\nc\\d\re\0f"), "a\\tb\\nc\\\\d\\re" + "f");
  assert.equal(usToTimestamp(1_764_000_000_123_456), "2025-11-24T16:00:00.123456Z");
  assert.equal(usToTimestamp(1_764_000_000_000_007), "2025-11-24T16:00:00.000007Z");
});

Deno.test("central: the README documents the generated events schema", async () => {
  const readme = await Deno.readTextFile(`${repoRoot}/README.md`);
  const table = centralSchemaMarkdown().split("\n");
  // Compare cell by cell: deno fmt pads the README's table.
  const rows = readme.split("\n").filter((l) => /^\| `(sensor|local_id|time|kind|mac)`/.test(l));
  assert.ok(rows.length >= 5, "the README has the vigia.events table");
  const cells = (l: string) => l.split("|").map((c) => c.trim()).filter(Boolean);
  const readmeRows = readme.split("\n").filter((l) => l.startsWith("| `")).map(cells);
  for (const line of table.slice(2)) {
    const want = cells(line);
    assert.ok(
      readmeRows.some((r) => r.join("|") === want.join("|")),
      `README lacks the vigia.events row ${line}: regenerate it from centralSchemaMarkdown()`,
    );
  }
});
