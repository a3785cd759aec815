import assert from "node:assert/strict";
import {
  encodeBranchAnswer,
  encodeBranchQuery,
  encodeFrame,
  encodeVerifyRequest,
  encodeVerifyResponse,
  type Frame,
  FrameDecoder,
  ipv4ToNumber,
  normalizeDomain,
  numberToIpv4,
} from "../../lib/veridns/codec.ts";

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return Uint8Array.from(clean.match(/../g)!, (h) => parseInt(h, 16));
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("").toUpperCase();
}

const DOMAIN = "www.github.com";
const domainField = (extra = "") => {
  const bytes = new TextEncoder().encode(DOMAIN) as Uint8Array;
  return toHex(bytes) + extra + "00".repeat(256 - bytes.length - extra.length / 2);
};

// The protocol's own test vectors (shared/veridns-protocol.md).
const VECTORS: { name: string; hex: string; frame: Frame }[] = [
  {
    name: "branch query, seq 1257935",
    hex: "00000000 0000000C 001331CF",
    frame: { type: 0, seq: 1257935 },
  },
  {
    name: "branch answer, 1.1.1.1 and 8.8.8.8",
    hex: "00000001 00000018 001331CF 00000002 01010101 08080808",
    frame: { type: 1, seq: 1257935, addresses: [0x01010101, 0x08080808] },
  },
  {
    name: "request, www.github.com, 20.205.243.165 and .166, seq 55224621",
    hex: `00000002 00000118 034AA92D ${domainField()} 00000002 14CDF3A5 14CDF3A6`,
    frame: {
      type: 2,
      seq: 55224621,
      domain: DOMAIN,
      addresses: [ipv4ToNumber("20.205.243.165"), ipv4ToNumber("20.205.243.166")],
    },
  },
  {
    name: "response, one malicious 20.205.243.165",
    hex: "00000003 00000015 034AA92D 00 00000001 14CDF3A5",
    frame: { type: 3, seq: 55224621, verified: false, malicious: [ipv4ToNumber("20.205.243.165")] },
  },
];

for (const v of VECTORS) {
  Deno.test(`test vector encodes byte-exact: ${v.name}`, () => {
    assert.equal(toHex(encodeFrame(v.frame)), v.hex.replace(/\s+/g, ""));
  });
  Deno.test(`test vector decodes: ${v.name}`, () => {
    const role = v.frame.type === 0 || v.frame.type === 2 ? "server" : "client";
    const d = new FrameDecoder({ role });
    const out: Frame[] = [];
    assert.equal(d.feed(hex(v.hex), out), null);
    assert.deepEqual(out, [v.frame]);
    assert.equal(d.pendingBytes, 0);
  });
}

Deno.test("the specification's stray 0x0A after the domain is accepted and never sent", () => {
  const withStray = hex(
    `00000002 00000118 034AA92D ${domainField("0A")} 00000002 14CDF3A5 14CDF3A6`,
  );
  const out: Frame[] = [];
  assert.equal(new FrameDecoder({ role: "server" }).feed(withStray, out), null);
  assert.equal((out[0] as { domain: string }).domain, DOMAIN);
  const encoded = encodeVerifyRequest(55224621, DOMAIN, [1]);
  assert.equal(encoded[12 + DOMAIN.length], 0);
});

Deno.test("verified response is the 13-byte short form, and decodes both forms", () => {
  assert.equal(toHex(encodeVerifyResponse(7, [])), "000000030000000D0000000701");
  const out: Frame[] = [];
  const d = new FrameDecoder({ role: "client" });
  assert.equal(d.feed(hex("00000003 0000000D 00000007 01"), out), null);
  assert.equal(d.feed(hex("00000003 00000011 00000008 01 00000000"), out), null);
  assert.deepEqual(out, [
    { type: 3, seq: 7, verified: true, malicious: [] },
    { type: 3, seq: 8, verified: true, malicious: [] },
  ]);
});

Deno.test("streaming: byte-by-byte, several frames per chunk, split headers", () => {
  const frames: Frame[] = [
    { type: 0, seq: 1 },
    { type: 2, seq: 2, domain: "a.example", addresses: [1, 2, 3] },
    { type: 0, seq: 3 },
    { type: 2, seq: 4, domain: "b.example", addresses: [] },
  ];
  const all = new Uint8Array(frames.reduce((n, f) => n + encodeFrame(f).length, 0));
  let off = 0;
  for (const f of frames) {
    const b = encodeFrame(f);
    all.set(b, off);
    off += b.length;
  }
  for (const step of [1, 3, 7, 12, 13, 100, 275, all.length]) {
    const d = new FrameDecoder({ role: "server" });
    const out: Frame[] = [];
    for (let i = 0; i < all.length; i += step) {
      assert.equal(d.feed(all.subarray(i, Math.min(all.length, i + step)), out), null);
    }
    assert.deepEqual(out, frames, `step ${step}`);
    assert.equal(d.pendingBytes, 0);
  }
});

Deno.test("streaming: pendingBytes reports a frame cut in half", () => {
  const d = new FrameDecoder({ role: "server" });
  const b = encodeVerifyRequest(9, "x.example", [5]);
  const out: Frame[] = [];
  assert.equal(d.feed(b.subarray(0, 100), out), null);
  assert.equal(d.pendingBytes, 100);
  assert.equal(out.length, 0);
  assert.equal(d.feed(b.subarray(100), out), null);
  assert.equal(out.length, 1);
  assert.equal(d.pendingBytes, 0);
});

Deno.test("bad frames are refused with a reason, frames before them kept", () => {
  const cases: [string, Uint8Array, string, { maxAddresses?: number; maxFrameLength?: number }?][] =
    [
      ["unknown type", hex("00000009 0000000C 00000001"), "unknown_type"],
      ["answer sent to a server", encodeBranchAnswer(1, [1]), "unexpected_type"],
      ["huge Length", hex("00000002 FFFFFFF0 00000001"), "too_long"],
      ["query with a body", hex("00000000 00000010 00000001 00000000"), "bad_length"],
      ["Length below the header", hex("00000000 00000004 00000001"), "bad_length"],
      ["request Length off by 2", hex("00000002 00000112 00000001"), "bad_length"],
      [
        "NumberOfAddr larger than the bytes",
        (() => {
          const b = encodeVerifyRequest(1, "a.b", [1, 2]);
          b[12 + 256 + 3] = 3;
          return b;
        })(),
        "count_mismatch",
      ],
      [
        "NumberOfAddr smaller than the bytes",
        (() => {
          const b = encodeVerifyRequest(1, "a.b", [1, 2]);
          b[12 + 256 + 3] = 1;
          return b;
        })(),
        "count_mismatch",
      ],
      ["too many addresses", encodeVerifyRequest(1, "a.b", [1, 2, 3]), "too_many_addresses", {
        maxAddresses: 2,
      }],
      [
        "invalid UTF-8 domain",
        (() => {
          const b = encodeVerifyRequest(1, "a.b", []);
          b[12] = 0xff;
          return b;
        })(),
        "bad_domain",
      ],
    ];
  for (const [name, bytes, reason, limits] of cases) {
    const d = new FrameDecoder({ role: "server", ...limits });
    const out: Frame[] = [];
    const good = encodeBranchQuery(77);
    const joined = new Uint8Array(good.length + bytes.length);
    joined.set(good);
    joined.set(bytes, good.length);
    const err = d.feed(joined, out);
    assert.ok(err, name);
    assert.equal(err.reason, reason, name);
    assert.deepEqual(out, [{ type: 0, seq: 77 }], name);
    // Sticky: later input gets the same error.
    assert.equal(d.feed(encodeBranchQuery(1), out), err);
  }
});

Deno.test("a huge Length split across reads is refused before any body byte is buffered", () => {
  const d = new FrameDecoder({ role: "server", maxFrameLength: 600 });
  const out: Frame[] = [];
  assert.equal(d.feed(hex("00000002 7FFF"), out), null);
  const err = d.feed(hex("FFFF 00000001"), out);
  assert.equal(err?.reason, "too_long");
});

Deno.test("ipv4 helpers and domain normalisation", () => {
  assert.equal(ipv4ToNumber("20.205.243.165"), 0x14CDF3A5);
  assert.equal(ipv4ToNumber("255.255.255.255"), 0xffffffff);
  for (const bad of ["1.2.3", "1.2.3.256", "01.2.3.4", "1..2.3", "a.b.c.d", "1.2.3.4.5", ""]) {
    assert.equal(ipv4ToNumber(bad), -1, bad);
  }
  assert.equal(numberToIpv4(0x14CDF3A5), "20.205.243.165");
  assert.equal(normalizeDomain("WWW.GitHub.com."), "www.github.com");
  assert.equal(normalizeDomain("bücher.example"), "xn--bcher-kva.example");
  assert.equal(normalizeDomain("_dmarc.example"), "_dmarc.example");
  for (const bad of ["", ".", "a..b", "-a.b", "a b.c", "x".repeat(64) + ".com", "a/b"]) {
    assert.equal(normalizeDomain(bad), null, bad);
  }
});

Deno.test("encodeVerifyRequest refuses a domain over 256 bytes", () => {
  assert.throws(() => encodeVerifyRequest(1, "a".repeat(257), []), RangeError);
});
