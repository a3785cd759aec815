/**
 * SHA-256 of a capture file on a thread of its own, so that `vigia ingest`
 * hashes the file while it decodes it without the hashing taking time from
 * the decoding thread (about 3% of it). The worker reads the file itself:
 * the pages are in the page cache already or will be there for the reader.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { createHash } from "node:crypto";

/** What the worker is asked: the file to hash. */
export interface HashRequest {
  /** The file. */
  path: string;
}

/** What it answers: the digest and the bytes hashed, or why it could not. */
export type HashReply = { sha256: string; size: number } | { error: string };

self.onmessage = async (e: MessageEvent<HashRequest>) => {
  try {
    const file = await Deno.open(e.data.path, { read: true });
    try {
      const hash = createHash("sha256");
      const buf = new Uint8Array(1 << 20);
      let size = 0;
      for (;;) {
        const n = await file.read(buf);
        if (n === null) break;
        hash.update(buf.subarray(0, n));
        size += n;
      }
      self.postMessage({ sha256: hash.digest("hex"), size } satisfies HashReply);
    } finally {
      file.close();
    }
  } catch (err) {
    self.postMessage({ error: (err as Error).message } satisfies HashReply);
  }
};
