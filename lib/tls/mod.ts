/**
 * TLS certificates for vigia's listeners: a self-signed certificate made
 * in-process (ECDSA P-256 over WebCrypto, X.509 encoding by
 * `npm:@peculiar/x509`; no `openssl` shell-out), kept on disk and reused, and
 * SHA-256 fingerprints in the `AA:BB:...` form that clients pin.
 *
 * ECDSA P-256 is chosen over RSA because key generation takes milliseconds
 * and handshakes are cheaper; rustls (Deno), OpenSSL and Java all accept it.
 *
 * @example
 * ```ts ignore
 * import { ensureSelfSigned } from "./mod.ts";
 * const { certPath, keyPath, fingerprint } = await ensureSelfSigned("var/lib", {
 *   commonName: "vigia",
 *   altNames: ["localhost", "127.0.0.1"],
 * });
 * Deno.listenTls({
 *   port: 4433,
 *   cert: await Deno.readTextFile(certPath),
 *   key: await Deno.readTextFile(keyPath),
 * });
 * ```
 *
 * @module
 */

import type * as X509 from "@peculiar/x509";
import { parseIp } from "../net/mod.ts";

let x509Module: Promise<typeof X509> | undefined;

/**
 * `npm:@peculiar/x509`, loaded on first use: evaluating it takes ~170 ms,
 * which every CLI command (this module is reached through the daemon's)
 * would otherwise pay at start-up.
 */
function loadX509(): Promise<typeof X509> {
  return x509Module ??= (async () => {
    // It resolves its ASN.1 helpers through tsyringe, which needs the Reflect metadata API.
    await import("reflect-metadata");
    return await import("@peculiar/x509");
  })();
}

/** Options for {@linkcode ensureSelfSigned} and {@linkcode generateSelfSigned}. */
export interface SelfSignedOptions {
  /** Subject common name (CN). */
  commonName: string;
  /** Subject alternative names: IP literals become IP entries, everything else DNS names. */
  altNames?: string[];
  /** File name stem under the directory: `<basename>.crt` and `<basename>.key`. @default "selfsigned" */
  basename?: string;
  /** Validity in days from now. @default 3650 */
  validDays?: number;
}

/** Where a certificate and its key are, and the certificate's fingerprint. */
export interface CertificateFiles {
  /** PEM certificate file. */
  certPath: string;
  /** PEM PKCS#8 private key file (mode 0600). */
  keyPath: string;
  /** SHA-256 of the DER certificate as upper-case hex pairs joined by colons. */
  fingerprint: string;
  /** True when this call generated the files, false when existing ones were reused. */
  created: boolean;
}

/** A certificate and key held in memory. */
export interface GeneratedCertificate {
  /** PEM certificate. */
  certPem: string;
  /** PEM PKCS#8 private key. */
  keyPem: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex. */
  fingerprint: string;
}

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

function hexColons(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

function randomSerial(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] &= 0x7f; // a positive INTEGER without a leading zero byte
  b[0] |= 0x01;
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Generates a self-signed certificate and key in memory. */
export async function generateSelfSigned(
  options: SelfSignedOptions,
): Promise<GeneratedCertificate> {
  const { commonName, altNames = [], validDays = 3650 } = options;
  if (!commonName) throw new TypeError("generateSelfSigned: commonName must not be empty");
  const x509 = await loadX509();
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const names = altNames.map((n) =>
    parseIp(n) ? { type: "ip" as const, value: n } : { type: "dns" as const, value: n }
  );
  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign,
      true,
    ),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    // The CN is escaped by the library's name parser only for RFC 4514 specials; keep it plain.
    name: `CN=${commonName.replace(/[,+"\\<>;=]/g, " ")}`,
    notBefore: new Date(now - 3_600_000), // an hour of slack for clients with a slow clock
    notAfter: new Date(now + validDays * 86_400_000),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions,
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    certPem: cert.toString("pem") + "\n",
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n",
    fingerprint: hexColons(new Uint8Array(await crypto.subtle.digest("SHA-256", cert.rawData))),
  };
}

/** SHA-256 fingerprint (colon-separated upper-case hex) of the first certificate in a PEM text. */
export async function certificateFingerprint(pem: string): Promise<string> {
  const x509 = await loadX509();
  const cert = new x509.X509Certificate(firstCertificate(pem));
  return hexColons(new Uint8Array(await crypto.subtle.digest("SHA-256", cert.rawData)));
}

function firstCertificate(pem: string): string {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new TypeError("no PEM CERTIFICATE block found");
  return m[0];
}

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(tmp, text, { mode, createNew: true });
  await Deno.chmod(tmp, mode); // the umask may have narrowed or widened the create mode
  await Deno.rename(tmp, path);
}

async function usableExisting(
  certPath: string,
  keyPath: string,
): Promise<string | undefined> {
  let certPem: string, keyPem: string;
  try {
    [certPem, keyPem] = await Promise.all([
      Deno.readTextFile(certPath),
      Deno.readTextFile(keyPath),
    ]);
  } catch {
    return undefined;
  }
  const x509 = await loadX509();
  try {
    const cert = new x509.X509Certificate(firstCertificate(certPem));
    // Renew a day before expiry so a listener never starts with a certificate about to lapse.
    if (cert.notAfter.getTime() < Date.now() + 86_400_000) return undefined;
    if (!/-----BEGIN (EC |RSA )?PRIVATE KEY-----/.test(keyPem)) return undefined;
    return hexColons(new Uint8Array(await crypto.subtle.digest("SHA-256", cert.rawData)));
  } catch {
    return undefined;
  }
}

/**
 * Returns a self-signed certificate under `dir` (`<basename>.crt`,
 * `<basename>.key`), generating it when the files are missing, unreadable or
 * within a day of expiry; otherwise the existing pair is reused, so the
 * fingerprint that clients pinned stays the same across restarts. The
 * directory is created when missing; the key file gets mode 0600.
 */
export async function ensureSelfSigned(
  dir: string,
  options: SelfSignedOptions,
): Promise<CertificateFiles> {
  const { basename = "selfsigned" } = options;
  const certPath = `${dir}/${basename}.crt`;
  const keyPath = `${dir}/${basename}.key`;
  const existing = await usableExisting(certPath, keyPath);
  if (existing) return { certPath, keyPath, fingerprint: existing, created: false };
  await Deno.mkdir(dir, { recursive: true });
  const made = await generateSelfSigned(options);
  // Key first: a reader that sees the new certificate must also find its key.
  await writeAtomically(keyPath, made.keyPem, 0o600);
  await writeAtomically(certPath, made.certPem, 0o644);
  return { certPath, keyPath, fingerprint: made.fingerprint, created: true };
}
