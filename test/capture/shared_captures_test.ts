/**
 * Every capture in ../shared/testdata/pcap is decoded and checked packet by
 * packet against `tcpdump -nn -e -vv -r`; the malformed ones are counted as
 * malformed and nothing throws.
 */

import assert from "node:assert/strict";
import { sharedTestdata } from "../_env.ts";
import { assertMatchesTcpdump } from "./_oracle.ts";
import { hasTcpdump } from "./_tcpdump.ts";

const dir = sharedTestdata ? `${sharedTestdata}/pcap` : null;
const files = dir
  ? [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /\.pcap(ng)?$/.test(n)).sort()
  : [];
const tcpdumpOk = await hasTcpdump();
if (!dir) console.log("SKIP capture/shared_captures: ../shared/testdata/pcap is absent");
else if (!tcpdumpOk) console.log("SKIP capture/shared_captures: tcpdump is not installed");

const MALFORMED = /^(dns-zlip-|bootp_asan)/;

for (const name of files.length ? files : ["(none)"]) {
  Deno.test({
    name: `capture: ${name} agrees with tcpdump`,
    ignore: !dir || !tcpdumpOk,
    async fn() {
      const { events, counters, packets } = await assertMatchesTcpdump(`${dir}/${name}`);
      if (MALFORMED.test(name)) {
        assert.equal(events.length, 0);
        const total = Object.values(counters.malformed).reduce((a, b) => a + b, 0);
        assert.equal(total, packets.length, `every packet of ${name} is malformed`);
      } else {
        assert.ok(events.length > 0, `${name} yields events`);
      }
    },
  });
}
