/**
 * Writes small MaxMind DB files at test time with Debian's perl
 * MaxMind::DB::Writer (libmaxmind-db-writer-perl), so geo lookups are covered
 * without ../shared/testdata.
 *
 * @module
 */

const SCRIPT = String.raw`
use strict;
use warnings;
use JSON::PP;
use MaxMind::DB::Writer::Tree;

my ($out, $type) = @ARGV;
local $/;
my $spec = JSON::PP->new->utf8->decode(<STDIN>);
my %types = (
  city => 'map', country => 'map', registered_country => 'map', continent => 'map',
  location => 'map', names => 'map', en => 'utf8_string', iso_code => 'utf8_string',
  code => 'utf8_string', latitude => 'double', longitude => 'double',
  accuracy_radius => 'uint16', time_zone => 'utf8_string', geoname_id => 'uint32',
  autonomous_system_number => 'uint32', autonomous_system_organization => 'utf8_string',
);
my $tree = MaxMind::DB::Writer::Tree->new(
  ip_version => 6,
  record_size => 28,
  database_type => $type,
  languages => ['en'],
  description => { en => 'vigia test database' },
  remove_reserved_networks => 0,
  map_key_type_callback => sub { $types{ $_[0] } or die "no type for key $_[0]" },
);
for my $r (@$spec) {
  $tree->insert_network($r->{network}, $r->{data});
}
open my $fh, '>:raw', $out or die "cannot write $out: $!";
$tree->write_tree($fh);
close $fh;
`;

/** One network and its record. */
export interface MmdbRecord {
  /** CIDR such as `200.238.0.0/16`. */
  network: string;
  /** The record (City or ASN shape). */
  data: Record<string, unknown>;
}

/** True when perl and MaxMind::DB::Writer are installed. */
export function hasMmdbWriter(): boolean {
  try {
    const r = new Deno.Command("perl", {
      args: ["-MMaxMind::DB::Writer::Tree", "-e", "1"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return r.success;
  } catch {
    return false;
  }
}

/** Writes `records` as a MaxMind DB of `databaseType` (e.g. GeoLite2-City) at `path`. */
export async function writeMmdb(
  path: string,
  databaseType: string,
  records: MmdbRecord[],
): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/")) || ".";
  const script = `${dir}/write_mmdb.pl`;
  await Deno.writeTextFile(script, SCRIPT);
  const child = new Deno.Command("perl", {
    args: [script, path, databaseType],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(records)));
  await w.close();
  const r = await child.output();
  if (!r.success) {
    throw new Error(`perl MaxMind::DB::Writer failed: ${new TextDecoder().decode(r.stderr)}`);
  }
}

/** A City record. */
export function cityRecord(
  countryCode: string,
  countryName: string,
  city: string | undefined,
  location: { latitude: number; longitude: number; time_zone?: string; accuracy_radius?: number },
): Record<string, unknown> {
  const rec: Record<string, unknown> = {
    country: { iso_code: countryCode, names: { en: countryName } },
    location: { accuracy_radius: 20, ...location },
  };
  if (city) rec.city = { names: { en: city } };
  return rec;
}

/** An ASN record. */
export function asnRecord(asn: number, org: string): Record<string, unknown> {
  return { autonomous_system_number: asn, autonomous_system_organization: org };
}
