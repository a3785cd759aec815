import assert from "node:assert/strict";
import { openStore } from "../../lib/store/mod.ts";

async function tempStore(options = {}) {
  const dir = await Deno.makeTempDir({ prefix: "vigia-store-" });
  const store = openStore(`${dir}/vigia.db`, options);
  return { dir, store };
}

Deno.test("store: migrations apply once, per component, in version order", async () => {
  const { dir, store } = await tempStore();
  const migrations = [
    { version: 2, sql: "ALTER TABLE t ADD COLUMN b TEXT" },
    { version: 1, sql: "CREATE TABLE t (a TEXT)" },
  ];
  assert.equal(store.migrate("example", migrations), 2);
  assert.equal(store.migrate("example", migrations), 2);
  assert.equal(store.migrate("other", [{ version: 1, sql: "CREATE TABLE u (x)" }]), 1);
  const cols = store.query<{ name: string }>("PRAGMA table_info(t)").map((c) => c.name);
  assert.deepEqual(cols, ["a", "b"]);
  assert.equal(store.get<{ journal_mode: string }>("PRAGMA journal_mode")?.journal_mode, "wal");
  store.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("store: a failing migration rolls back and names itself", async () => {
  const { dir, store } = await tempStore();
  assert.throws(
    () => store.migrate("bad", [{ version: 1, sql: "CREATE TABLE ok (a); CREATE TABLE broken (" }]),
    /migration bad v1 failed/,
  );
  assert.equal(store.query("SELECT name FROM sqlite_master WHERE name = 'ok'").length, 0);
  store.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("store: batched rows commit by count, by time, and on flush", async () => {
  const { dir, store } = await tempStore({ batchRows: 3, batchInterval: 30 });
  store.migrate("t", [{ version: 1, sql: "CREATE TABLE t (n INTEGER)" }]);
  const insert = store.batched("INSERT INTO t (n) VALUES (?)");
  insert(1);
  insert(2);
  assert.equal(store.get<{ c: number }>("SELECT count(*) c FROM t")!.c, 0, "not yet committed");
  insert(3); // reaches batchRows
  assert.equal(store.get<{ c: number }>("SELECT count(*) c FROM t")!.c, 3);
  insert(4);
  // The interval flush is the event under test: wait for its commit (bounded), not a fixed time.
  const until = performance.now() + 5000;
  while (store.stats().transactions < 2 && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(store.stats().transactions, 2, "the interval flush committed");
  assert.equal(store.get<{ c: number }>("SELECT count(*) c FROM t")!.c, 4);
  assert.equal(store.stats().transactions, 2);
  store.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("store: a bad row is reported and skipped, the rest of the batch commits", async () => {
  const { dir, store } = await tempStore();
  store.migrate("t", [{ version: 1, sql: "CREATE TABLE t (n INTEGER NOT NULL)" }]);
  const errors: string[] = [];
  store.onError = (e) => errors.push(e.message);
  const insert = store.batched("INSERT INTO t (n) VALUES (?)");
  insert(1);
  insert(null);
  insert(3);
  store.flush();
  assert.equal(errors.length, 1);
  assert.equal(store.stats().failedRows, 1);
  assert.deepEqual(store.query<{ n: number }>("SELECT n FROM t ORDER BY n").map((r) => r.n), [
    1,
    3,
  ]);
  store.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("store: a reader in another connection does not block the writer (WAL)", async () => {
  const { dir, store } = await tempStore();
  store.migrate("t", [{ version: 1, sql: "CREATE TABLE t (n INTEGER)" }]);
  const other = openStore(`${dir}/vigia.db`);
  const insert = store.batched("INSERT INTO t (n) VALUES (?)");
  for (let i = 0; i < 1000; i++) insert(i);
  // Iterate a read on the second store while the first commits.
  const rows = other.query<{ n: number }>("SELECT n FROM t");
  store.flush();
  assert.equal(rows.length, 0);
  assert.equal(other.get<{ c: number }>("SELECT count(*) c FROM t")!.c, 1000);
  other.close();
  store.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("store: a write lock held by another connection delays the batch, nothing is lost", async () => {
  const { dir, store } = await tempStore({ busyTimeout: 50, batchInterval: 20 });
  store.migrate("t", [{ version: 1, sql: "CREATE TABLE t (n INTEGER)" }]);
  const errors: string[] = [];
  store.onError = (e) => errors.push(e.message);
  const { DatabaseSync } = await import("node:sqlite");
  const other = new DatabaseSync(`${dir}/vigia.db`);
  other.exec("BEGIN IMMEDIATE"); // holds the write lock
  const insert = store.batched("INSERT INTO t (n) VALUES (?)");
  insert(1);
  insert(2);
  assert.equal(store.flush(), false, "locked: kept for later");
  assert.ok(errors.some((m) => /locked|busy/i.test(m)));
  assert.equal(store.stats().queued, 2);
  other.exec("COMMIT");
  other.close();
  assert.equal(store.flush(), true);
  assert.equal(store.get<{ c: number }>("SELECT count(*) c FROM t")!.c, 2);
  store.close();
  await Deno.remove(dir, { recursive: true });
});
