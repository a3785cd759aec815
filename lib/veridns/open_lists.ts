/**
 * Open IP lists: CIDR ranges published by trusted entities (cloud and CDN
 * providers), read from files or URLs in three formats (plain lines, CSV with
 * a named column, JSON with configured paths), merged into one coalesced
 * {@linkcode CidrSet}, refreshed on a schedule. A failed refresh keeps the last
 * good copy, in memory and, for URLs, on disk so that a restart without
 * network still has it.
 *
 * @example
 * ```ts
 * import { parseOpenList } from "./open_lists.ts";
 * parseOpenList("# Cloudflare\n173.245.48.0/20\n", { format: "lines" }).ranges; // ["173.245.48.0/20"]
 * parseOpenList('{"prefixes":[{"ipv4Prefix":"8.8.4.0/24"}]}', {
 *   format: "json",
 *   jsonPath: ["prefixes[].ipv4Prefix"],
 * }).ranges; // ["8.8.4.0/24"]
 * ```
 *
 * @module
 */

import { CidrSet, formatCidr, parseCidr } from "../net/mod.ts";
import type { Logger } from "../log/mod.ts";
import { allowedUrl, isUrlSource, type OpenListConfig } from "./config.ts";

/** How a list's text is read. */
export interface ListFormat {
  /** `lines`, `csv` or `json`. */
  format: "lines" | "csv" | "json" | string;
  /** CSV column header holding the CIDR. @default "Prefix" */
  column?: string;
  /** JSON paths to the CIDR strings. */
  jsonPath?: string[];
}

/** Ranges read from one list. */
export interface ParsedList {
  /** Valid ranges, normalised (`ADDR/LEN`), in file order, duplicates kept out. */
  ranges: string[];
  /** Entries that were not CIDR ranges (skipped). */
  invalid: number;
}

function addRange(text: string, seen: Set<string>, out: ParsedList): void {
  const c = parseCidr(text.trim());
  if (c === null) {
    out.invalid++;
    return;
  }
  const key = formatCidr(c);
  if (seen.has(key)) return;
  seen.add(key);
  out.ranges.push(key);
}

/** Splits one CSV line (RFC 4180 quotes, `""` inside quotes). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = "", quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** Collects the strings at `path` (`a.b[].c`, `*`, `name[]`) of a parsed JSON value. */
export function jsonPathStrings(root: unknown, path: string): string[] {
  let values: unknown[] = [root];
  for (const raw of path.split(".")) {
    if (raw === "") continue;
    const walk = raw.endsWith("[]");
    const key = walk ? raw.slice(0, -2) : raw;
    const next: unknown[] = [];
    for (const v of values) {
      if (key === "") next.push(v);
      else if (key === "*") {
        if (v !== null && typeof v === "object" && !Array.isArray(v)) {
          next.push(...Object.values(v));
        }
      } else if (v !== null && typeof v === "object" && !Array.isArray(v) && key in v) {
        next.push((v as Record<string, unknown>)[key]);
      }
    }
    values = walk ? next.flatMap((v) => (Array.isArray(v) ? v : [])) : next;
  }
  // A path ending on an array of strings needs no trailing "[]".
  return values.flatMap((v) => (Array.isArray(v) ? v : [v])).filter((v): v is string =>
    typeof v === "string"
  );
}

/**
 * Reads the ranges of one list's text. Lines: `#` and `;` start comments,
 * blank lines are skipped, the first word of a line is the range. Throws a
 * `TypeError` when the text is not of the format (no such CSV column, not JSON).
 */
export function parseOpenList(text: string, format: ListFormat): ParsedList {
  const out: ParsedList = { ranges: [], invalid: 0 };
  const seen = new Set<string>();
  if (format.format === "json") {
    let root: unknown;
    try {
      root = JSON.parse(text);
    } catch (e) {
      throw new TypeError(`not JSON: ${(e as Error).message}`);
    }
    for (const p of format.jsonPath ?? []) {
      for (const s of jsonPathStrings(root, p)) addRange(s, seen, out);
    }
    return out;
  }
  const lines = text.split(/\r?\n/);
  if (format.format === "csv") {
    const want = (format.column ?? "Prefix").toLowerCase();
    let col = -1;
    for (const line of lines) {
      if (line.trim() === "" || line.startsWith("#")) continue;
      const fields = csvFields(line);
      if (col < 0) {
        col = fields.findIndex((f) => f.trim().replace(/^\uFEFF/, "").toLowerCase() === want);
        if (col < 0) throw new TypeError(`no CSV column "${format.column ?? "Prefix"}"`);
        continue;
      }
      if (col < fields.length && fields[col].trim() !== "") addRange(fields[col], seen, out);
    }
    return out;
  }
  for (const line of lines) {
    const body = line.replace(/[#;].*$/, "").trim();
    if (body === "") continue;
    addRange(body.split(/[\s,]+/)[0], seen, out);
  }
  return out;
}

/** State of one list, for `ctl status`. */
export interface ListStatus {
  /** The list's name (its source when the config names none). */
  name: string;
  /** File path or URL it is read from. */
  source: string;
  /** CIDR ranges in force. */
  ranges: number;
  /** Entries of the last load that were not a valid range. */
  invalid: number;
  /** When the ranges in force were loaded (ISO time; "" before any load). */
  loadedAt: string;
  /** Successful loads. */
  loads: number;
  /** Failed loads (the last good ranges were kept). */
  failures: number;
  /** The last failure's message ("" after a success). */
  lastError: string;
  /** Whether the ranges in force come from the saved copy of a URL list. */
  fromDiskCopy: boolean;
}

interface ListState {
  config: OpenListConfig;
  name: string;
  ranges: string[];
  status: ListStatus;
  timer: ReturnType<typeof setTimeout> | undefined;
  client: Deno.HttpClient | undefined;
}

/** Options for {@linkcode OpenLists}. */
export interface OpenListsOptions {
  /** Directory for the last good copies of URL lists; "" keeps them in memory only. */
  copyDir: string;
  /** Daemon log. */
  log: Logger;
  /** Called after the merged set changed. */
  onChange?: (set: CidrSet) => void;
}

function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 80);
}

/** The configured open lists, merged; refreshed in the background once started. */
export class OpenLists {
  readonly #lists: ListState[];
  readonly #copyDir: string;
  readonly #log: Logger;
  readonly #onChange: OpenListsOptions["onChange"];
  #set = new CidrSet([]);
  #stopped = false;
  /** Resolves when every list had its first load attempt (URLs included). */
  ready: Promise<void> = Promise.resolve();

  /** Holds the lists of `configs`, empty until loaded. */
  constructor(configs: OpenListConfig[], options: OpenListsOptions) {
    this.#copyDir = options.copyDir;
    this.#log = options.log;
    this.#onChange = options.onChange;
    this.#lists = configs.map((config) => {
      const name = config.name || config.source;
      return {
        config,
        name,
        ranges: [],
        timer: undefined,
        client: undefined,
        status: {
          name,
          source: config.source,
          ranges: 0,
          invalid: 0,
          loadedAt: "",
          loads: 0,
          failures: 0,
          lastError: "",
          fromDiskCopy: false,
        },
      };
    });
  }

  /** The merged, coalesced ranges. */
  get set(): CidrSet {
    return this.#set;
  }

  /** True when the IPv4 address (u32) lies in an open list. */
  hasV4(n: number): boolean {
    return this.#set.hasV4(n);
  }

  /**
   * Loads file lists (awaited) and the disk copies of URL lists, then starts
   * downloading URL lists in the background ({@linkcode OpenLists.ready}).
   */
  async start(): Promise<void> {
    const background: Promise<void>[] = [];
    for (const l of this.#lists) {
      if (l.config.ca !== "") {
        l.client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(l.config.ca)] });
      }
      if (isUrlSource(l.config.source)) {
        await this.#loadDiskCopy(l);
        background.push(this.#refresh(l));
      } else await this.#refresh(l);
    }
    this.#rebuild();
    this.ready = Promise.all(background).then(() => {});
  }

  /** Stops the refresh timers. */
  stop(): void {
    this.#stopped = true;
    for (const l of this.#lists) {
      clearTimeout(l.timer);
      l.client?.close();
    }
  }

  /** Reloads every list now (for tests and a future verb); resolves when done. */
  async refreshAll(): Promise<void> {
    for (const l of this.#lists) clearTimeout(l.timer);
    await Promise.all(this.#lists.map((l) => this.#refresh(l)));
  }

  /** Per-list state. */
  status(): ListStatus[] {
    return this.#lists.map((l) => ({ ...l.status }));
  }

  #copyPath(l: ListState): string {
    return `${this.#copyDir}/${safeName(l.name)}.txt`;
  }

  async #loadDiskCopy(l: ListState): Promise<void> {
    if (this.#copyDir === "") return;
    try {
      const text = await Deno.readTextFile(this.#copyPath(l));
      const parsed = parseOpenList(text, { format: "lines" });
      l.ranges = parsed.ranges;
      l.status.ranges = parsed.ranges.length;
      l.status.fromDiskCopy = true;
      l.status.loadedAt = (await Deno.stat(this.#copyPath(l))).mtime?.toISOString() ?? "";
    } catch { /* no copy yet */ }
  }

  async #fetchText(l: ListState): Promise<string> {
    const bad = allowedUrl(l.config.source);
    if (bad) throw new Error(bad);
    const res = await fetch(l.config.source, {
      signal: AbortSignal.timeout(l.config.timeout),
      client: l.client,
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status}`);
    }
    return await res.text();
  }

  async #refresh(l: ListState): Promise<void> {
    const url = isUrlSource(l.config.source);
    let ok = false;
    try {
      const text = url ? await this.#fetchText(l) : await Deno.readTextFile(l.config.source);
      const parsed = parseOpenList(text, {
        format: l.config.format,
        column: l.config.column,
        jsonPath: l.config.json_path,
      });
      // An error page served with status 200 parses to nothing: keep the last good copy instead.
      if (url && parsed.ranges.length === 0) throw new Error("no CIDR range in the download");
      l.ranges = parsed.ranges;
      l.status = {
        ...l.status,
        ranges: parsed.ranges.length,
        invalid: parsed.invalid,
        loadedAt: new Date().toISOString(),
        loads: l.status.loads + 1,
        lastError: "",
        fromDiskCopy: false,
      };
      ok = true;
      if (url && this.#copyDir !== "") await this.#saveCopy(l);
      this.#log.info("open list loaded", {
        list: l.name,
        ranges: parsed.ranges.length,
        invalid: parsed.invalid,
      });
    } catch (e) {
      l.status.failures++;
      l.status.lastError = (e as Error).message;
      this.#log.warn("open list load failed; keeping the last good copy", {
        list: l.name,
        source: l.config.source,
        ranges_kept: l.ranges.length,
        error: (e as Error).message,
      });
    }
    if (ok) this.#rebuild();
    if (!this.#stopped) {
      clearTimeout(l.timer);
      // After a failure retry within a minute; a list that works waits its full interval.
      const wait = ok ? l.config.refresh : Math.min(l.config.refresh, 60_000);
      l.timer = setTimeout(() => this.#refresh(l), wait);
      Deno.unrefTimer(l.timer);
    }
  }

  async #saveCopy(l: ListState): Promise<void> {
    try {
      await Deno.mkdir(this.#copyDir, { recursive: true });
      const path = this.#copyPath(l);
      const tmp = `${path}.tmp`;
      await Deno.writeTextFile(
        tmp,
        `# last good copy of ${l.config.source}, ${new Date().toISOString()}\n${
          l.ranges.join("\n")
        }\n`,
      );
      await Deno.rename(tmp, path);
    } catch (e) {
      this.#log.warn("cannot save the open list copy", {
        list: l.name,
        error: (e as Error).message,
      });
    }
  }

  #rebuild(): void {
    this.#set = new CidrSet(this.#lists.flatMap((l) => l.ranges));
    this.#onChange?.(this.#set);
  }
}
