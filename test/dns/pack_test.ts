import assert from "node:assert/strict";
import { packRecords, unpackRecords } from "../../lib/dns/pack.ts";
import { parseZoneText } from "../../lib/dns/zone_file.ts";
import { EX_ZONE } from "./_packets.ts";

Deno.test("packed records come back identical (owner, type, TTL, RDATA)", () => {
  const { records } = parseZoneText(EX_ZONE, { file: "ex.zone" });
  const packed = packRecords(records);
  const back = unpackRecords(structuredClone(packed));
  assert.equal(back.length, records.length);
  back.forEach((r, i) => {
    assert.deepEqual([...r.name], [...records[i].name]);
    assert.deepEqual([r.type, r.ttl], [records[i].type, records[i].ttl]);
    assert.deepEqual([...r.rdata], [...records[i].rdata]);
  });
  assert.deepEqual(unpackRecords(packRecords([])), []);
});
