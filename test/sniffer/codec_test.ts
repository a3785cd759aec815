import assert from "node:assert/strict";
import {
  cidrToKeyRange,
  intToMac,
  ipToKey,
  ipv4ToInt,
  keyToIp,
  macToInt,
} from "../../lib/sniffer/codec.ts";
import { OUI_SOURCE, vendorOf } from "../../lib/sniffer/oui.ts";
import { buildIndex, shortVendor } from "../../scripts/gen_oui.ts";

Deno.test("codec: MACs round-trip through 48-bit integers and sort like their text", () => {
  for (
    const m of ["00:00:00:00:00:00", "3c:22:fb:01:02:03", "ff:ff:ff:ff:ff:ff", "da:a1:19:0a:0b:0c"]
  ) {
    const n = macToInt(m);
    assert.ok(n !== null);
    assert.equal(intToMac(n), m);
  }
  assert.equal(macToInt("3C:22:FB:01:02:03"), macToInt("3c:22:fb:01:02:03"));
  for (
    const bad of [
      "",
      "3c:22:fb:01:02",
      "3c-22-fb-01-02-03",
      "zz:22:fb:01:02:03",
      "3c:22:fb:01:02:033",
    ]
  ) {
    assert.equal(macToInt(bad), null, bad);
  }
  const sorted = [
    "00:00:00:00:00:01",
    "00:00:01:00:00:00",
    "3c:00:00:00:00:00",
    "ff:00:00:00:00:00",
  ];
  const nums = sorted.map((m) => macToInt(m)!);
  assert.deepEqual([...nums].sort((a, b) => a - b), nums);
});

Deno.test("codec: IPv4 integers sort numerically, IPv6 as 16 bytes, CIDRs as key ranges", () => {
  assert.equal(ipv4ToInt("10.0.0.10"), 0x0a00000a);
  assert.equal(ipv4ToInt("255.255.255.255"), 0xffffffff);
  for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "a.b.c.d", "1.2.3.4 "]) {
    assert.equal(ipv4ToInt(bad), -1, bad);
  }
  assert.ok((ipToKey("10.0.0.9") as number) < (ipToKey("10.0.0.10") as number));
  assert.equal(keyToIp(ipToKey("192.0.2.7")), "192.0.2.7");
  assert.equal(keyToIp(ipToKey("2001:db8::1")), "2001:db8::1");
  assert.equal(ipToKey("not an ip"), null);
  assert.deepEqual(cidrToKeyRange("10.1.0.0/16"), [0x0a010000, 0x0a01ffff]);
  assert.deepEqual(cidrToKeyRange("10.1.2.3"), [0x0a010203, 0x0a010203]);
  const [lo, hi] = cidrToKeyRange("2001:db8::/32")! as [Uint8Array, Uint8Array];
  assert.equal(keyToIp(lo), "2001:db8::");
  assert.equal(keyToIp(hi), "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
  assert.equal(cidrToKeyRange("10.0.0.0/33"), null);
  assert.equal(cidrToKeyRange("x/8"), null);
});

Deno.test("oui: makers from MA-L, MA-M and MA-S blocks, labels for the rest", () => {
  assert.match(OUI_SOURCE, /oui-data/);
  assert.equal(vendorOf("3c:22:fb:12:34:56"), "Apple");
  assert.equal(vendorOf("00:50:56:aa:bb:cc"), "VMware");
  // 00:55:DA is an MA-L of the IEEE RA split into MA-M blocks (00:55:DA:0 Shinko Technos).
  assert.equal(vendorOf("00:55:da:01:02:03"), "Shinko Technos");
  assert.equal(vendorOf("00:55:da:11:02:03"), "KoolPOS");
  // 00:1B:C5 holds MA-S blocks (00:1B:C5:000 Converging Systems, :001 OpenRB.com).
  assert.equal(vendorOf("00:1b:c5:00:00:01"), "Converging Systems");
  assert.equal(vendorOf("00:1b:c5:00:10:01"), "OpenRB.com, Direct SIA");
  assert.equal(vendorOf("ff:ff:ff:ff:ff:ff"), "(broadcast)");
  assert.equal(vendorOf("01:00:5e:00:00:fb"), "(multicast)");
  assert.equal(vendorOf("33:33:00:00:00:01"), "(multicast)");
  assert.equal(vendorOf("da:a1:19:00:00:01"), "(locally administered)");
  assert.equal(vendorOf("02:42:ac:11:00:02"), "(locally administered)");
  assert.equal(vendorOf("00:00:00:00:00:00"), "(none)");
  assert.equal(vendorOf("not a mac"), "");
});

Deno.test("gen_oui: short names drop legal suffixes; tables are prefix-delta strings", () => {
  assert.equal(shortVendor("Apple, Inc.\n1 Infinite Loop\nCupertino"), "Apple");
  assert.equal(shortVendor("HUAWEI TECHNOLOGIES CO.,LTD\nx"), "HUAWEI TECHNOLOGIES");
  assert.equal(shortVendor("Intel Corporate"), "Intel");
  assert.equal(shortVendor("Inc."), "Inc."); // never stripped to nothing
  const index = buildIndex(
    {
      "3C22FB": "Apple, Inc.\naddr",
      "3C22FC": "Apple, Inc.",
      "0055DA1": "KoolPOS Inc.",
      "BAD": "x",
    },
    "test",
  );
  assert.deepEqual(index.vendors, "Apple\nKoolPOS");
  assert.equal(index.ma_l, `${(0x3c22fb).toString(36)}.0,1.0`);
  assert.equal(index.ma_m, `${(0x0055da1).toString(36)}.1`);
  assert.equal(index.ma_s, "");
});
