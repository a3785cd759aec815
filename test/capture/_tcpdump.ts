/**
 * `tcpdump -nn -e -vv -r FILE` as an independent oracle: runs it and parses
 * what it prints for each packet (link addresses, IPs and ports, the DNS
 * question, flags and answers, the DHCP type, xid and client address).
 *
 * @module
 */

/** What tcpdump printed for one packet. */
export interface TcpdumpPacket {
  /** HH:MM:SS.ffffff in UTC. */
  time: string;
  /** The whole block, lines joined by spaces. */
  text: string;
  srcMac?: string;
  dstMac?: string;
  vlan?: number;
  srcIp?: string;
  dstIp?: string;
  srcPort?: number;
  dstPort?: number;
  proto?: "udp" | "tcp";
  dns?: {
    id: number;
    qr: boolean;
    flags: string;
    rcodeName?: string;
    qtype: string;
    qname: string;
    /** Answer section entries whole in the capture. */
    answers: { name: string; type: string; data: string }[];
    /** Answer count from the `an/ns/ar` header (responses). */
    an?: number;
    /** DNS message length in parentheses at the end. */
    length?: number;
  };
  dhcp?: {
    version: 4 | 6;
    msgType: string;
    xid: number;
    chaddr?: string;
    fields: Record<string, string>;
  };
  /** tcpdump reported the DNS/BOOTP payload as invalid or cut. */
  malformed: boolean;
}

/** True when `tcpdump` can be run. */
export async function hasTcpdump(): Promise<boolean> {
  try {
    const r = await new Deno.Command("tcpdump", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return r.success;
  } catch {
    return false;
  }
}

const V4_NAMES: Record<string, string> = {
  Discover: "DISCOVER",
  Offer: "OFFER",
  Request: "REQUEST",
  Decline: "DECLINE",
  ACK: "ACK",
  NACK: "NAK",
  Release: "RELEASE",
  Inform: "INFORM",
};

const V6_NAMES: Record<string, string> = {
  solicit: "SOLICIT",
  advertise: "ADVERTISE",
  request: "REQUEST",
  confirm: "CONFIRM",
  renew: "RENEW",
  rebind: "REBIND",
  reply: "REPLY",
  release: "RELEASE",
  decline: "DECLINE",
  reconfigure: "RECONFIGURE",
  "inf-req": "INFORMATION-REQUEST",
  "relay-fwd": "RELAY-FORW",
  "relay-reply": "RELAY-REPL",
};

/** Runs tcpdump on `file` and parses every packet. */
export async function tcpdump(file: string): Promise<TcpdumpPacket[]> {
  const r = await new Deno.Command("tcpdump", {
    args: ["-nn", "-e", "-vv", "-r", file],
    env: { TZ: "UTC" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout);
  const blocks: string[][] = [];
  for (const line of out.split("\n")) {
    if (/^\d\d:\d\d:\d\d\.\d{6} /.test(line)) blocks.push([line]);
    else if (line.trim() && blocks.length) blocks[blocks.length - 1].push(line.trim());
  }
  return blocks.map((b) => parseBlock(b.join(" ")));
}

function parseBlock(text: string): TcpdumpPacket {
  const p: TcpdumpPacket = { time: text.slice(0, 15), text, malformed: false };
  const link = text.slice(16).match(
    /^([0-9a-f]{2}(?::[0-9a-f]{2}){5}) > ([0-9a-f]{2}(?::[0-9a-f]{2}){5}),/,
  );
  if (link) {
    p.srcMac = link[1];
    p.dstMac = link[2];
  } else {
    const cooked = text.slice(16).match(
      /\b(?:In|Out|B|M|P)\s+(?:ifindex \d+ )?([0-9a-f]{2}(?::[0-9a-f]{2}){5}) /,
    );
    if (cooked) p.srcMac = cooked[1];
  }
  const vlan = text.match(/\bvlan (\d+),/);
  if (vlan) p.vlan = Number(vlan[1]);
  const ports = text.match(/ ([0-9a-f:.]+)\.(\d+) > ([0-9a-f:.]+)\.(\d+): /);
  if (!ports) return p;
  p.srcIp = ports[1];
  p.srcPort = Number(ports[2]);
  p.dstIp = ports[3];
  p.dstPort = Number(ports[4]);
  let after = text.slice((ports.index ?? 0) + ports[0].length);
  p.proto = /^Flags \[/.test(after) ? "tcp" : "udp";
  if (p.proto === "tcp") {
    const m = after.match(/, length (\d+) (.*)$/);
    if (!m) return p;
    after = m[2];
  }
  after = after.replace(/^(\[[^\]]*\] )+/, "");
  if (after.startsWith("BOOTP/DHCP")) parseBootp(p, after);
  else if (after.startsWith("dhcp6")) parseDhcp6(p, after);
  else if (/^domain \[|\(invalid\)|^\[\|domain\]/.test(after)) p.malformed = true;
  else parseDns(p, after);
  return p;
}

function parseDns(p: TcpdumpPacket, s: string): void {
  const head = s.match(/^(\d+)([*\-+|$]*) (.*)$/);
  if (!head) return;
  let rest = head[3].replace(/^(\[[^\]]*\] )+/, "");
  let rcodeName: string | undefined;
  let flags = head[2];
  // A non-zero rcode comes after the id, with the remaining flags glued to it: "NXDomain* q: ...".
  const rc = rest.match(/^([A-Z][A-Za-z]+)([*\-+|$]*) (?=q: |\d)/);
  if (rc) {
    rcodeName = rc[1];
    flags += rc[2];
    rest = rest.slice(rc[0].length);
  }
  const qr = rest.startsWith("q: ");
  if (qr) rest = rest.slice(3);
  const q = rest.match(/^(\S+)\? (\S+)(?: (.*))?$/);
  if (!q) return;
  const qname = q[2] === "." ? "." : q[2].replace(/\.$/, "");
  rest = q[3] ?? "";
  let length: number | undefined;
  const len = rest.match(/\((\d+)\)$/);
  if (len) length = Number(len[1]);
  const answers: { name: string; type: string; data: string }[] = [];
  let an: number | undefined;
  const counts = rest.match(/^(\d+)\/(\d+)\/(\d+)(?: (.*))?$/);
  if (qr && counts) {
    an = Number(counts[1]);
    let body = (counts[4] ?? "").replace(/ ?\(\d+\)$/, "");
    body = body.split(/ (?:ns|ar): /)[0];
    if (an > 0 && body) {
      for (const entry of body.split(", ")) {
        if (entry.includes("[|")) break;
        const m = entry.match(/^(\S+) (\S+)(?: (.*))?$/);
        if (!m) break;
        answers.push({
          name: m[1] === "." ? "." : m[1].replace(/\.$/, ""),
          type: m[2],
          data: m[3] ?? "",
        });
      }
    }
  }
  p.dns = {
    id: Number(head[1]),
    qr,
    flags,
    rcodeName,
    qtype: q[1],
    qname,
    answers,
    an,
    length,
  };
}

function parseBootp(p: TcpdumpPacket, s: string): void {
  if (s.includes("[|bootp]") || /BOOTP\/DHCP, unknown/.test(s)) {
    p.malformed = true;
    return;
  }
  const op = s.match(/^BOOTP\/DHCP, (Request|Reply)/);
  const xid = s.match(/xid 0x([0-9a-f]+)/);
  if (!op || !xid) return;
  const type = s.match(/DHCP-Message \(53\), length 1: (\S+)/);
  const fields: Record<string, string> = {};
  for (
    const [re, key] of [
      [/Client-IP (\S+)/, "client_addr"],
      [/Your-IP (\S+)/, "assigned_addr"],
      [/Server-IP (\S+)/, "next_server"],
      [/Gateway-IP (\S+)/, "relay_addr"],
      [/Requested-IP \(50\), length 4: (\S+)/, "requested_addr"],
      [/Server-ID \(54\), length 4: (\S+)/, "server_id"],
      [/Lease-Time \(51\), length 4: (\d+)/, "lease_time"],
      [/Hostname \(12\), length \d+: "([^"]*)"/, "host_name"],
      [/Vendor-Class \(60\), length \d+: "([^"]*)"/, "vendor_class"],
      [/Parameter-Request \(55\), length (\d+)/, "param_count"],
      [/Client-ID \(61\), length \d+: ether ([0-9a-f:]+)/, "client_id_ether"],
    ] as [RegExp, string][]
  ) {
    const m = s.match(re);
    if (m) fields[key] = m[1];
  }
  p.dhcp = {
    version: 4,
    msgType: type
      ? (V4_NAMES[type[1]] ?? type[1].toUpperCase())
      : op[1] === "Request"
      ? "BOOTREQUEST"
      : "BOOTREPLY",
    xid: parseInt(xid[1], 16),
    chaddr: s.match(/Client-Ethernet-Address ([0-9a-f:]+)/)?.[1],
    fields,
  };
}

function parseDhcp6(p: TcpdumpPacket, s: string): void {
  const all = [...s.matchAll(/dhcp6 ([a-z-]+) \(xid=([0-9a-f]+)/g)];
  if (all.length === 0) {
    if (/\[\|dhcp6\]/.test(s)) p.malformed = true;
    return;
  }
  const inner = all[all.length - 1];
  const client = s.match(/client-ID hwaddr(?:\/time)? type \d+ (?:time \d+ )?([0-9a-f]{12})\)/);
  p.dhcp = {
    version: 6,
    msgType: V6_NAMES[inner[1]] ?? inner[1].toUpperCase(),
    xid: parseInt(inner[2], 16),
    chaddr: client ? client[1].match(/../g)!.join(":") : undefined,
    fields: {},
  };
}

/** `HH:MM:SS.ffffff` (UTC) of a capture time in ms. */
export function timeOfDay(ms: number): string {
  const usTotal = Math.round(ms * 1000);
  const us = usTotal % 1_000_000;
  const d = new Date(Math.floor(usTotal / 1_000_000) * 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.${
    String(us).padStart(6, "0")
  }`;
}
