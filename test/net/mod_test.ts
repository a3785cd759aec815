import assert from "node:assert/strict";
import {
  CidrSet,
  formatIp,
  parseCidr,
  parseHostPort,
  parseIp,
  parseMac,
} from "../../lib/net/mod.ts";

Deno.test("net: IPv4 and IPv6 parse and format canonically", () => {
  assert.deepEqual([...parseIp("192.0.2.1")!], [192, 0, 2, 1]);
  assert.equal(parseIp("192.0.2.256"), null);
  assert.equal(parseIp("01.2.3.4"), null);
  assert.equal(formatIp(parseIp("2001:DB8:0:0:0:0:0:1")!), "2001:db8::1");
  assert.equal(formatIp(parseIp("::ffff:192.0.2.1")!), "::ffff:192.0.2.1");
  assert.equal(formatIp(parseIp("2001:db8:0:1:0:0:0:1")!), "2001:db8:0:1::1");
  assert.equal(parseIp("1::2::3"), null);
});

Deno.test("net: CIDR sets coalesce and match both families", () => {
  const set = new CidrSet([
    "10.0.0.0/9",
    "10.128.0.0/9",
    "192.0.2.7",
    "2001:db8::/32",
    "10.0.0.0/8",
  ]);
  assert.ok(set.has("10.200.1.1"));
  assert.ok(set.has("192.0.2.7"));
  assert.ok(!set.has("192.0.2.8"));
  assert.ok(set.has("2001:db8:ffff::1"));
  assert.ok(!set.has("2001:db9::1"));
  assert.deepEqual(set.v4Intervals.length, 2);
  assert.equal(parseCidr("10.1.2.3/8")!.bytes.join("."), "10.0.0.0");
  assert.throws(() => new CidrSet(["10.0.0.0/33"]), /invalid CIDR/);
});

Deno.test("net: MACs and host:port", () => {
  assert.equal(parseMac("AA-bb-CC-dd-EE-ff"), "aa:bb:cc:dd:ee:ff");
  assert.equal(parseMac("aabb.ccdd.eeff"), "aa:bb:cc:dd:ee:ff");
  assert.equal(parseMac("aa:bb:cc:dd:ee"), null);
  assert.deepEqual(parseHostPort("[::1]:53"), { host: "::1", port: 53 });
  assert.deepEqual(parseHostPort("127.0.0.1", 53), { host: "127.0.0.1", port: 53 });
  assert.equal(typeof parseHostPort("example.com:53"), "string");
});
