/**
 * A real rsyslog for tests: Debian's `rsyslogd -n` with its own config in a
 * temp dir, listening on loopback only (UDP, TCP with octet counting, TLS
 * through the gtls driver when `rsyslog-gnutls` is installed, and a local
 * datagram socket in the temp dir; never the system's /dev/log), writing
 * every message it receives in the RFC 5424 form (structured data kept) to
 * one file.
 *
 * @module
 */

import { freePort, hasCommand } from "../_helpers.ts";

/** True when rsyslogd is installed. */
export const haveRsyslog: boolean = hasCommand("rsyslogd") ||
  (() => {
    try {
      return Deno.statSync("/usr/sbin/rsyslogd").isFile;
    } catch {
      return false;
    }
  })();

const RSYSLOGD = hasCommand("rsyslogd") ? "rsyslogd" : "/usr/sbin/rsyslogd";

/** True when rsyslog's TLS driver (Debian `rsyslog-gnutls`) is installed. */
export const haveGtls: boolean = [
  "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so",
  "/usr/lib/aarch64-linux-gnu/rsyslog/lmnsd_gtls.so",
  "/usr/lib/rsyslog/lmnsd_gtls.so",
].some((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

/** A CA and a certificate it signed for 127.0.0.1 (rustls will not take a self-signed leaf). */
export async function makeCaAndCertificate(
  dir: string,
): Promise<{ caPath: string; certPath: string; keyPath: string }> {
  const caPath = `${dir}/ca.pem`, caKey = `${dir}/ca.key`;
  const certPath = `${dir}/server.pem`, keyPath = `${dir}/server.key`;
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const steps = [
    ["req", "-x509", ...ec, "-days", "2", "-subj", "/CN=vigia test CA", "-keyout", caKey],
    ["-out", caPath],
    ["req", ...ec, "-subj", "/CN=127.0.0.1", "-keyout", keyPath, "-out", `${dir}/server.csr`],
    ["x509", "-req", "-in", `${dir}/server.csr`, "-CA", caPath, "-CAkey", caKey],
    ["-CAcreateserial", "-days", "2", "-extfile", `${dir}/server.ext`, "-out", certPath],
  ];
  for (const args of [[...steps[0], ...steps[1]], steps[2], [...steps[3], ...steps[4]]]) {
    const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
      .output();
    if (out.code !== 0) throw new Error(`openssl: ${new TextDecoder().decode(out.stderr)}`);
  }
  return { caPath, certPath, keyPath };
}

/** A running rsyslog. */
export interface TestRsyslog {
  /** Its temp directory. */
  dir: string;
  /** Loopback ports of its inputs (`tls` only with {@linkcode haveGtls}). */
  udpPort: number;
  tcpPort: number;
  tlsPort?: number;
  /** Its local datagram socket (a unix:// target). */
  socketPath: string;
  /** CA file that signed its TLS certificate. */
  caPath?: string;
  /** The file it writes, RFC 5424 lines. */
  file: string;
  /** The lines written so far. */
  lines(): Promise<string[]>;
  /** Resolves with the lines once `done(lines)` holds (bounded by `timeoutMs`). */
  waitFor(done: (lines: string[]) => boolean, timeoutMs?: number): Promise<string[]>;
  /** Stops it (SIGTERM, awaited): its ports refuse until {@linkcode TestRsyslog.start}. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and file, resolved once every input answers. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

/** Starts rsyslog on free loopback ports, resolved once every input has delivered a probe. */
export async function startRsyslog(options: { tls?: boolean } = {}): Promise<TestRsyslog> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-rsyslog-" });
  const udpPort = freePort(), tcpPort = freePort();
  const tls = options.tls && haveGtls ? await makeCaAndCertificate(dir) : undefined;
  const tlsPort = tls ? freePort() : undefined;
  const socketPath = `${dir}/log.sock`;
  const file = `${dir}/messages.log`;
  const conf = [
    `global(workDirectory="${dir}"${
      tls
        ? ` defaultNetstreamDriverCAFile="${tls.caPath}" defaultNetstreamDriverCertFile="${tls.certPath}" defaultNetstreamDriverKeyFile="${tls.keyPath}"`
        : ""
    })`,
    `module(load="imudp")`,
    `input(type="imudp" address="127.0.0.1" port="${udpPort}")`,
    // imptcp takes octet-counted frames (RFC 6587 3.4.1) as well as LF-terminated ones.
    `module(load="imptcp")`,
    `input(type="imptcp" address="127.0.0.1" port="${tcpPort}")`,
    ...(tls
      ? [
        `module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")`,
        `input(type="imtcp" address="127.0.0.1" port="${tlsPort}")`,
      ]
      : []),
    // A socket of its own in the temp dir (not the system's /dev/log), parsed as /dev/log is.
    `module(load="imuxsock" sysSock.use="off")`,
    `input(type="imuxsock" socket="${socketPath}")`,
    `action(type="omfile" file="${file}" template="RSYSLOG_SyslogProtocol23Format")`,
  ].join("\n");
  await Deno.writeTextFile(`${dir}/rsyslog.conf`, conf + "\n");
  let child: Deno.ChildProcess | undefined;
  let probes = 0;

  const lines = async () => {
    try {
      return (await Deno.readTextFile(file)).split("\n").filter(Boolean);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
  };
  const waitFor = async (done: (l: string[]) => boolean, timeoutMs = 10_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const l = await lines();
      if (done(l)) return l;
      if (Date.now() > until) {
        throw new Error(`rsyslog file did not get there within ${timeoutMs} ms:\n${l.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const enc = new TextEncoder();
  const probe = (tag: string) =>
    `<14>1 ${new Date().toISOString()} test probe - - - ${tag}-${probes++}`;

  /** Sends probes to every input until each shows in the file (bounded). */
  const ready = async () => {
    const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const unix = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/probe.sock` });
    try {
      const pending = new Set(["udp", "tcp", "unix", ...(tls ? ["tls"] : [])]);
      for (let i = 0; i < 200 && pending.size > 0; i++) {
        const sent = new Map<string, string>();
        for (const input of pending) {
          const m = probe(`probe-${input}`);
          try {
            if (input === "udp") {
              await udp.send(enc.encode(m), {
                transport: "udp",
                hostname: "127.0.0.1",
                port: udpPort,
              });
            } else if (input === "unix") {
              await unix.send(enc.encode(m), { transport: "unixpacket", path: socketPath });
            } else {
              const conn = input === "tcp"
                ? await Deno.connect({ hostname: "127.0.0.1", port: tcpPort })
                : await Deno.connectTls({
                  hostname: "127.0.0.1",
                  port: tlsPort!,
                  caCerts: [await Deno.readTextFile(tls!.caPath)],
                });
              const body = enc.encode(m);
              await conn.write(new Uint8Array([...enc.encode(`${body.length} `), ...body]));
              conn.close();
            }
            sent.set(input, m.split(" ").pop()!);
          } catch { /* not listening yet */ }
        }
        await new Promise((r) => setTimeout(r, 50));
        const seen = (await lines()).join("\n");
        for (const [input, tag] of sent) if (seen.includes(tag)) pending.delete(input);
      }
      if (pending.size > 0) {
        throw new Error(`rsyslog inputs not ready: ${[...pending].join(", ")}`);
      }
    } finally {
      udp.close();
      unix.close();
      await Deno.remove(`${dir}/probe.sock`).catch(() => {});
    }
  };

  const start = async () => {
    child = new Deno.Command(RSYSLOGD, {
      args: ["-n", "-f", `${dir}/rsyslog.conf`, "-i", `${dir}/rsyslogd.pid`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await ready();
  };
  const stop = async () => {
    if (!child) return;
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    child = undefined;
  };
  await start();
  return {
    dir,
    udpPort,
    tcpPort,
    tlsPort,
    socketPath,
    caPath: tls?.caPath,
    file,
    lines,
    waitFor,
    stop,
    start,
    close: async () => {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
