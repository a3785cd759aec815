import assert from "node:assert/strict";
import { RowBuffer, unpackRows } from "../../lib/sniffer/event_writer.ts";

Deno.test("event writer: packed rows come back value for value (numbers, NaN, text, blobs, null)", () => {
  const blob = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  const values = [
    1_795_000_000_123_456,
    0,
    -1,
    0.5,
    NaN,
    "udp",
    "",
    null,
    blob,
    2 ** 48 - 1,
    "ex\u00e4mple.com",
    null,
    53,
    Infinity,
  ];
  // Room for one row only: the buffer has to grow.
  const buf = new RowBuffer(7, 1);
  for (const v of values) buf.add(v);
  assert.equal(buf.rows, 2);
  const packed = buf.take();
  assert.equal(buf.rows, 0);
  assert.equal(packed.width, 7);
  assert.equal(packed.numbers.length, values.length);
  // Only the values that are not plain numbers travel outside the Float64Array.
  assert.equal(packed.others.length, 7);
  const cloned = structuredClone(packed, { transfer: [packed.numbers.buffer] });
  const back = unpackRows(cloned);
  assert.equal(back.length, values.length);
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) assert.ok(Number.isNaN(back[i]), `slot ${i}`);
    else assert.deepEqual(back[i], values[i], `slot ${i}`);
  }
  // The buffer is reused after take(): the next rows start from the beginning.
  buf.add(7);
  buf.add("x");
  assert.deepEqual(unpackRows(buf.take()), [7, "x"]);
  assert.deepEqual(unpackRows(buf.take()), []);
});
