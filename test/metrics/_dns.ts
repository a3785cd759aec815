/** A DNS query message for tests: `name` type A class IN, id `id`, wire form. */
export function dnsQuery(id: number, name: string): Uint8Array {
  const parts = [id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
  for (const l of name.split(".").filter(Boolean)) {
    parts.push(l.length, ...new TextEncoder().encode(l));
  }
  parts.push(0, 0, 1, 0, 1);
  return new Uint8Array(parts);
}

/** Sends each query over UDP and waits for its answer (so none is lost on loopback). */
export async function askEach(port: number, names: string[]): Promise<void> {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    for (let i = 0; i < names.length; i++) {
      await sock.send(dnsQuery(i + 1, names[i]), {
        transport: "udp",
        hostname: "127.0.0.1",
        port,
      });
      const [reply] = await sock.receive();
      if (((reply[0] << 8) | reply[1]) !== i + 1) throw new Error(`answer ${i + 1} has another id`);
    }
  } finally {
    sock.close();
  }
}

/** Scrapes `url` and returns the value of the sample written exactly as `series`, or undefined. */
export async function sample(url: string, series: string): Promise<number | undefined> {
  const text = await (await fetch(url)).text();
  for (const line of text.split("\n")) {
    if (line.startsWith(series + " ")) return Number(line.slice(series.length + 1));
  }
  return undefined;
}
