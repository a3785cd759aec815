import assert from "node:assert/strict";
import {
  analyseName,
  autocorrelation,
  fluxScores,
  greatCircleKm,
  truncateScore,
} from "../../lib/scan/metrics.ts";

const close = (a: number, b: number, eps = 1e-9) =>
  assert.ok(Math.abs(a - b) <= eps * Math.max(1, Math.abs(b)), `${a} is not ${b}`);

Deno.test("flux: servicos.sds.pe.gov.br (1 IP, 1 range, 1 ASN, 1 country, TTL 21594)", () => {
  const s = fluxScores({
    aRecords: 1,
    asns: 1,
    ranges: 1,
    countries: 1,
    numServers: 1,
    nameServers: 3,
    ttl: 21594,
  });
  assert.equal(s.ttlFlag, 0);
  close(s.modifiedHolz.score, -30.14);
  assert.equal(s.modifiedHolz.printed, -30);
  assert.equal(s.modifiedHolz.flux, false);
  assert.equal(s.jaroslawPatrycja.score, 7);
  assert.equal(s.jaroslawPatrycja.printed, 7);
  assert.equal(s.jaroslawPatrycja.flux, false);
  close(s.holz2008.score, 1.32 + 18.54 - 142.38);
  assert.equal(s.holz2008.printed, -122);
  assert.equal(s.ruleBased.flux, false);
  assert.equal(s.verdict, "Clean");
  assert.equal(s.scoresAgreement.agree, 3);
});

Deno.test("flux: two A records in one /24 are Fast-Flux by the rule alone; the scores say Clean", () => {
  const s = fluxScores({
    aRecords: 2,
    asns: 1,
    ranges: 1,
    countries: 1,
    numServers: 2,
    nameServers: 2,
    ttl: 3600,
  });
  assert.equal(s.verdict, "Fast-Flux");
  assert.deepEqual([s.scoresAgreement.fastFlux, s.scoresAgreement.agree], [0, 0]);
  assert.match(s.scoresAgreement.summary, /^0 of 3 numeric scores agree with it \(Clean: /);
});

Deno.test("flux: delegaciavirtual.sinesp.gov.br (22 IPs, 1 /24, 1 ASN, TTL 297)", () => {
  const s = fluxScores({
    aRecords: 22,
    asns: 1,
    ranges: 1,
    countries: 1,
    numServers: 22,
    nameServers: 2,
    ttl: 297,
  });
  assert.equal(s.ttlFlag, 1);
  close(s.modifiedHolz.score, 2.58);
  assert.equal(s.modifiedHolz.printed, 2);
  assert.equal(s.modifiedHolz.flux, true);
  assert.equal(s.jaroslawPatrycja.score, 50);
  assert.equal(s.jaroslawPatrycja.flux, true);
  assert.equal(s.verdict, "Fast-Flux");
  // The verdict says what it is, and how the numeric scores side with it.
  assert.match(s.verdictNote, /original FFanalyse rule, kept on purpose.*not vigia's own/);
  assert.deepEqual(s.scoresAgreement, {
    fastFlux: 2,
    agree: 2,
    summary:
      "2 of 3 numeric scores agree with it (Fast-Flux: modified Holz, Jaroslaw/Patrycja; Clean: Holz 2008)",
  });
  // Holz 2008: 1.32·22 + 18.54 − 142.38 = −94.8 → −94, clean.
  close(s.holz2008.score, -94.8);
  assert.equal(s.holz2008.printed, -94);
  assert.equal(s.holz2008.flux, false);
});

Deno.test("flux: Holz 2008 by hand, thresholds and the rule's branches", () => {
  // 100 A, 3 ASNs: 132 + 55.62 − 142.38 = 45.24 > 0.
  const big = fluxScores({
    aRecords: 100,
    asns: 3,
    ranges: 40,
    countries: 5,
    numServers: 100,
    nameServers: 7,
    ttl: 60,
  });
  close(big.holz2008.score, 45.24);
  assert.equal(big.holz2008.printed, 45);
  assert.equal(big.holz2008.flux, true);
  // The NS count has weight 0 in the paper's formula.
  const moreNs = fluxScores({
    aRecords: 100,
    asns: 3,
    ranges: 40,
    countries: 5,
    numServers: 100,
    nameServers: 70,
    ttl: 60,
  });
  assert.equal(moreNs.holz2008.score, big.holz2008.score);
  // ttlFlag boundary: 300 counts, 301 does not.
  const base = { aRecords: 1, asns: 1, ranges: 1, countries: 1, numServers: 1, nameServers: 2 };
  assert.equal(fluxScores({ ...base, ttl: 300 }).ttlFlag, 1);
  assert.equal(fluxScores({ ...base, ttl: 301 }).ttlFlag, 0);
  assert.equal(fluxScores({ ...base, ttl: null }).ttlFlag, 0);
  // J/P threshold: exactly 18 is flux.
  // nA 4 + NumServers 4 + 1.5·2 + 1.5·2 + 0 + 2·2 = 18.
  const jp = fluxScores({
    aRecords: 4,
    asns: 2,
    ranges: 2,
    countries: 2,
    numServers: 4,
    nameServers: 2,
    ttl: 3600,
  });
  assert.equal(jp.jaroslawPatrycja.score, 18);
  assert.equal(jp.jaroslawPatrycja.flux, true);
  // Rule second branch: one A record but two addresses (one AAAA) with TTL ≤ 300.
  const rule2 = fluxScores({
    aRecords: 1,
    asns: 1,
    ranges: 2,
    countries: 1,
    numServers: 2,
    nameServers: 2,
    ttl: 60,
  });
  assert.equal(rule2.ruleBased.flux, true);
  const rule2off = fluxScores({
    aRecords: 1,
    asns: 1,
    ranges: 2,
    countries: 1,
    numServers: 2,
    nameServers: 2,
    ttl: 3600,
  });
  assert.equal(rule2off.ruleBased.flux, false);
  // Nothing resolved: clean, finite scores.
  const none = fluxScores({
    aRecords: 0,
    asns: 0,
    ranges: 0,
    countries: 0,
    numServers: 0,
    nameServers: 0,
    ttl: null,
  });
  assert.equal(none.verdict, "Clean");
  assert.equal(none.modifiedHolz.printed, -50);
  assert.equal(none.jaroslawPatrycja.printed, 0);
});

Deno.test("truncateScore truncates toward zero without -0", () => {
  assert.equal(truncateScore(-30.14), -30);
  assert.equal(truncateScore(2.58), 2);
  assert.equal(truncateScore(-0.5), 0);
  assert.ok(Object.is(truncateScore(-0.5), 0));
});

Deno.test("greatCircleKm: spherical law of cosines with R = 6371", () => {
  close(greatCircleKm(0, 0, 0, 1), 6371 * Math.PI / 180);
  close(greatCircleKm(0, 0, 0, 180), 6371 * Math.PI);
  assert.equal(greatCircleKm(-8.05, -34.9, -8.05, -34.9), 0);
  assert.ok(!Number.isNaN(greatCircleKm(32.6783, -117.1291, 32.6783, -117.1291)));
});

Deno.test("Moran's I and Geary's C against a hand computation", () => {
  // Three points on the equator at longitudes 0, 1, 3 degrees; u = 1/(6371·π/180).
  // Weights: w12 = u, w13 = u/3, w23 = u/2. Values 1, 2, 4: mean 7/3,
  // deviations −4/3, −1/3, 5/3; Σdev² = 14/3; ΣΣw = 11u/3.
  // ΣΣ w·di·dj = 2u(4/9 − 20/27 − 5/18) = −31u/27 → I = 3·(−31/27)/(11/3·14/3) = −31/154.
  // ΣΣ w(xi−xj)² = 2u(1 + 9/3 + 4/2) = 12u → C = 2·12/(2·11/3·14/3) = 54/77.
  const r = autocorrelation([
    { lat: 0, lon: 0, value: 1 },
    { lat: 0, lon: 1, value: 2 },
    { lat: 0, lon: 3, value: 4 },
  ]);
  close(r.moranI, -31 / 154, 1e-9);
  close(r.gearyC, 54 / 77, 1e-9);
});

Deno.test("Moran's I and Geary's C are 0, not NaN, for degenerate cases", () => {
  const zero = { moranI: 0, gearyC: 0 };
  assert.deepEqual(autocorrelation([]), zero);
  assert.deepEqual(autocorrelation([{ lat: 1, lon: 1, value: 5 }]), zero);
  // Same location twice: every weight is 0.
  assert.deepEqual(
    autocorrelation([{ lat: 1, lon: 1, value: 5 }, { lat: 1, lon: 1, value: 9 }]),
    zero,
  );
  // Equal values: no variance.
  assert.deepEqual(
    autocorrelation([{ lat: 1, lon: 1, value: 5 }, { lat: 2, lon: 2, value: 5 }]),
    zero,
  );
  // Two distinct points: I = 2·2w·(−1)(1)/(2w·2) = −1; C = 1·2w·4/(2·2w·2) = 1.
  const two = autocorrelation([{ lat: 0, lon: 0, value: 1 }, { lat: 0, lon: 2, value: 3 }]);
  close(two.moranI, -1);
  close(two.gearyC, 1);
});

Deno.test("name entropy: unigram and bigram Shannon entropy per label", () => {
  const n = analyseName("aab.ab.");
  // Characters a,a,b,a,b: p(a)=3/5, p(b)=2/5.
  close(n.unigramEntropy, -(0.6 * Math.log2(0.6) + 0.4 * Math.log2(0.4)));
  // Bigrams inside labels: "aa", "ab", "ab" → p = 1/3, 2/3.
  close(n.bigramEntropy, -(1 / 3 * Math.log2(1 / 3) + 2 / 3 * Math.log2(2 / 3)));
  assert.equal(n.labels, 2);
  assert.equal(n.length, 5);
  assert.equal(n.name, "aab.ab");
  assert.equal(n.firstLabel.label, "aab");
  const single = analyseName("aaaa");
  assert.equal(single.unigramEntropy, 0);
  assert.equal(single.bigramEntropy, 0);
  assert.ok(Object.is(single.unigramEntropy, 0));
  const empty = analyseName("");
  assert.equal(empty.labels, 0);
  assert.equal(empty.unigramEntropy, 0);
  close(analyseName("abcd").unigramEntropy, 2);
});
