import assert from "node:assert/strict";
import { RowBuffer, unpackRows } from "../../lib/sniffer/event_writer.ts";
import type { Slot } from "../../lib/sniffer/schema.ts";

const slot = (n: number) => n as Slot<"dns">;

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
  const buf = new RowBuffer<"dns">(7, 1);
  for (let row = 0; row < 2; row++) {
    buf.begin();
    // Set in reverse order: each value lands in its slot whatever the order.
    for (let k = 6; k >= 0; k--) buf.set(slot(k), values[row * 7 + k]);
    buf.end();
  }
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
  // A row not ended (an exception half-way) is dropped by the next begin; unset slots are NULL.
  buf.begin();
  buf.set(slot(0), "lost");
  buf.begin();
  buf.set(slot(1), 7);
  buf.set(slot(3), "x");
  buf.end();
  assert.equal(buf.rows, 1);
  assert.deepEqual(unpackRows(buf.take()), [null, 7, null, "x", null, null, null]);
  assert.deepEqual(unpackRows(buf.take()), []);
});

Deno.test("event writer: take() hands over the buffer itself, and a recycled one is reused", () => {
  const buf = new RowBuffer<"dns">(2, 4);
  const fill = (v: number) => {
    buf.begin();
    buf.set(slot(0), v);
    buf.set(slot(1), "t");
    buf.end();
  };
  fill(1);
  const first = buf.take();
  fill(2);
  const second = buf.take();
  assert.notEqual(
    first.numbers.buffer,
    second.numbers.buffer,
    "a taken buffer is not written again",
  );
  assert.deepEqual(unpackRows(first), [1, "t"]);
  // Moved away (as to the worker) and back: the next buffer after the one being filled.
  const moved = structuredClone(first.numbers.buffer, { transfer: [first.numbers.buffer] });
  assert.equal(first.numbers.buffer.byteLength, 0, "detached here once moved");
  buf.recycle(moved);
  fill(3);
  assert.deepEqual(unpackRows(buf.take()), [3, "t"]);
  fill(4);
  const fourth = buf.take();
  assert.equal(fourth.numbers.buffer, moved);
  assert.deepEqual(unpackRows(fourth), [4, "t"], "rows written from its start");
  // A buffer smaller than the current one is not kept.
  buf.recycle(new ArrayBuffer(8));
  fill(5);
  buf.take();
  fill(6);
  assert.equal(buf.take().numbers.buffer.byteLength, 4 * 2 * 8);
});
