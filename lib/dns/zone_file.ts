/**
 * RFC 1035 master files (section 5): `$ORIGIN`, `$TTL` (RFC 2308),
 * `$INCLUDE`, `@`, relative names, a blank owner meaning "the previous
 * one", TTL and class in either order, parentheses across lines, quoted
 * strings, `;` comments, `\.` / `\DDD` escapes and the RFC 3597 `TYPEnnn` /
 * `\#` generic forms. Every problem is reported with its file and line and
 * parsing goes on, so one run lists them all.
 *
 * @example
 * ```ts
 * import { parseZoneText } from "./zone_file.ts";
 * const { records, problems } = parseZoneText(
 *   "$ORIGIN example.org.\n$TTL 1h\n@ SOA ns hostmaster 1 2h 1h 2w 5m\nwww A 192.0.2.1\n",
 *   { file: "example.org.zone" },
 * );
 * ```
 *
 * @module
 */

import { parseRdata, parseTtl, type Token } from "./rdata.ts";
import { nameFromText, nameToText, SyntaxError, TYPE, typeFromName } from "./wire.ts";

/** One record read from a zone source, in wire form, with where it came from. */
export interface ZoneRecord {
  /** Owner name, wire form, original case. */
  name: Uint8Array;
  /** Type number. */
  type: number;
  /** TTL in seconds. */
  ttl: number;
  /** RDATA, wire form, names uncompressed. */
  rdata: Uint8Array;
  /** Source file (or `config`, `table`). */
  file: string;
  /** 1-based line in `file` (0 when not from a file). */
  line: number;
}

/** A problem found in a zone source. */
export interface ZoneProblem {
  /** Source file (or a config path such as `dns.zone[0].records[2]`). */
  file: string;
  /** 1-based line, 0 when unknown. */
  line: number;
  /** What is wrong. */
  message: string;
}

/** Options for {@linkcode parseZoneText}. */
export interface ZoneParseOptions {
  /** Name reported in problems and records. */
  file: string;
  /** Origin before any `$ORIGIN` (presentation form, absolute). */
  origin?: string;
  /** TTL of records that give none when neither `$TTL` nor an earlier explicit TTL applies. */
  defaultTtl?: number;
  /** Reads an `$INCLUDE`d file; absent means `$INCLUDE` is refused. */
  readFile?: (path: string) => string;
  /** Line number of the first line (for text embedded elsewhere). @default 1 */
  firstLine?: number;
  /** @internal include depth */
  depth?: number;
}

/** What {@linkcode parseZoneText} returns. */
export interface ZoneParseResult {
  /** Records read, in file order. */
  records: ZoneRecord[];
  /** Problems, in file order. */
  problems: ZoneProblem[];
}

interface Line {
  tokens: Token[];
  line: number;
  /** The line began with blank space: the owner is the previous one. */
  blankOwner: boolean;
}

/** Splits master-file text into logical lines (parentheses joined), reporting lexical errors. */
function tokenize(text: string, file: string, firstLine: number, problems: ZoneProblem[]): Line[] {
  const out: Line[] = [];
  let i = 0;
  let lineNo = firstLine;
  let current: Line | undefined;
  let depth = 0;
  let parenLine = 0;
  let atLineStart = true;
  const flush = () => {
    if (current && current.tokens.length > 0) out.push(current);
    current = undefined;
  };
  while (i < text.length) {
    const c = text[i];
    if (c === "\n") {
      lineNo++;
      i++;
      atLineStart = true;
      if (depth === 0) flush();
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      if (atLineStart && depth === 0 && !current) {
        current = { tokens: [], line: lineNo, blankOwner: true };
      }
      atLineStart = false;
      i++;
      continue;
    }
    if (!current) current = { tokens: [], line: lineNo, blankOwner: false };
    atLineStart = false;
    if (c === ";") {
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    if (c === "(") {
      if (depth === 0) parenLine = lineNo;
      depth++;
      i++;
      continue;
    }
    if (c === ")") {
      if (depth === 0) problems.push({ file, line: lineNo, message: 'unbalanced ")"' });
      else depth--;
      i++;
      continue;
    }
    if (c === '"') {
      let s = "";
      const start = lineNo;
      i++;
      let closed = false;
      while (i < text.length) {
        const d = text[i];
        if (d === "\\" && i + 1 < text.length) {
          s += d + text[i + 1];
          if (text[i + 1] === "\n") lineNo++;
          i += 2;
          continue;
        }
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === "\n") lineNo++;
        s += d;
        i++;
      }
      if (!closed) problems.push({ file, line: start, message: "unterminated quoted string" });
      current.tokens.push({ text: s, quoted: true });
      continue;
    }
    let s = "";
    while (i < text.length) {
      const d = text[i];
      if (d === "\\" && i + 1 < text.length) {
        s += d + text[i + 1];
        i += 2;
        continue;
      }
      if (' \t\r\n;()"'.includes(d)) break;
      s += d;
      i++;
    }
    current.tokens.push({ text: s, quoted: false });
  }
  if (depth > 0) problems.push({ file, line: parenLine, message: 'unbalanced "(": never closed' });
  flush();
  return out;
}

function isClass(text: string): boolean {
  return /^(IN|CH|CS|HS|CLASS\d+)$/i.test(text);
}

function isTtl(text: string): boolean {
  return /^\d/.test(text) && !Number.isNaN(parseTtl(text));
}

/** Parses master-file text. Never throws: problems are returned with their lines. */
export function parseZoneText(text: string, options: ZoneParseOptions): ZoneParseResult {
  const { file, readFile, depth = 0 } = options;
  const problems: ZoneProblem[] = [];
  const records: ZoneRecord[] = [];
  let origin: Uint8Array | undefined;
  if (options.origin !== undefined) {
    try {
      origin = nameFromText(options.origin.endsWith(".") ? options.origin : options.origin + ".");
    } catch (e) {
      problems.push({ file, line: 0, message: `bad origin: ${(e as Error).message}` });
    }
  }
  let directiveTtl: number | undefined;
  let lastTtl: number | undefined;
  let lastOwner: Uint8Array | undefined;
  const lexical: ZoneProblem[] = [];
  for (const l of tokenize(text, file, options.firstLine ?? 1, lexical)) {
    const report = (message: string) => problems.push({ file, line: l.line, message });
    const t = l.tokens;
    const head = t[0].text;
    if (!t[0].quoted && head.startsWith("$") && !l.blankOwner) {
      const directive = head.toUpperCase();
      try {
        if (directive === "$ORIGIN") {
          if (t.length !== 2) throw new SyntaxError("$ORIGIN takes one name");
          origin = nameFromText(t[1].text, origin);
        } else if (directive === "$TTL") {
          if (t.length !== 2 || !isTtl(t[1].text)) {
            throw new SyntaxError(
              `$TTL needs a TTL such as 3600 or 1h, found "${t[1]?.text ?? ""}"`,
            );
          }
          directiveTtl = parseTtl(t[1].text);
        } else if (directive === "$INCLUDE") {
          if (t.length < 2 || t.length > 3) {
            throw new SyntaxError("$INCLUDE takes a file and an optional origin");
          }
          if (!readFile) throw new SyntaxError("$INCLUDE is not allowed here");
          if (depth >= 8) throw new SyntaxError("$INCLUDE nested more than 8 deep");
          const path = t[1].text;
          let included: string;
          try {
            included = readFile(path);
          } catch (e) {
            throw new SyntaxError(`cannot read $INCLUDE file "${path}": ${(e as Error).message}`);
          }
          const sub = parseZoneText(included, {
            file: path,
            origin: t[2]
              ? nameToText(nameFromText(t[2].text, origin))
              : origin
              ? nameToText(origin)
              : undefined,
            defaultTtl: directiveTtl ?? lastTtl ?? options.defaultTtl,
            readFile,
            depth: depth + 1,
          });
          for (const r of sub.records) records.push(r);
          for (const p of sub.problems) problems.push(p);
        } else if (directive === "$GENERATE") {
          throw new SyntaxError("$GENERATE is a BIND extension and is not supported");
        } else throw new SyntaxError(`unknown directive ${head}`);
      } catch (e) {
        report((e as Error).message);
      }
      continue;
    }
    try {
      let k = 0;
      let owner: Uint8Array;
      if (l.blankOwner) {
        if (!lastOwner) throw new SyntaxError("record without an owner name and no previous owner");
        owner = lastOwner;
      } else {
        owner = nameFromText(t[0].text, origin);
        k = 1;
      }
      let ttl: number | undefined;
      let sawClass = false;
      for (let n = 0; n < 2 && k < t.length && !t[k].quoted; n++) {
        if (ttl === undefined && isTtl(t[k].text)) ttl = parseTtl(t[k++].text);
        else if (!sawClass && isClass(t[k].text)) {
          if (t[k].text.toUpperCase() !== "IN" && t[k].text.toUpperCase() !== "CLASS1") {
            throw new SyntaxError(`class ${t[k].text} is not served (only IN)`);
          }
          sawClass = true;
          k++;
        } else break;
      }
      if (k >= t.length) throw new SyntaxError("record has no type");
      const typeText = t[k++].text;
      const type = typeFromName(typeText);
      if (type === undefined) throw new SyntaxError(`unknown type "${typeText}"`);
      if (type === TYPE.OPT || (type >= 128 && type <= 255)) {
        throw new SyntaxError(`type ${typeText} cannot appear in a zone`);
      }
      const rdata = parseRdata(type, t.slice(k), { origin });
      if (ttl === undefined) {
        ttl = directiveTtl ?? lastTtl ?? options.defaultTtl;
        // RFC 1035 used the SOA minimum as the default TTL; RFC 2308 made $TTL the way to set it.
        if (ttl === undefined && type === TYPE.SOA) ttl = readSoaMinimum(rdata);
        if (ttl === undefined) {
          throw new SyntaxError("no TTL: give one or set $TTL before this record");
        }
      } else lastTtl = ttl;
      lastOwner = owner;
      records.push({ name: owner, type, ttl, rdata, file, line: l.line });
    } catch (e) {
      report((e as Error).message);
    }
  }
  // Lexical problems (quotes, parentheses) go in line order among the others.
  for (const p of lexical) {
    const at = problems.findIndex((q) => q.file === file && q.line > p.line);
    problems.splice(at < 0 ? problems.length : at, 0, p);
  }
  return { records, problems };
}

function readSoaMinimum(rdata: Uint8Array): number {
  const at = rdata.length - 4;
  return ((rdata[at] << 24) | (rdata[at + 1] << 16) | (rdata[at + 2] << 8) | rdata[at + 3]) >>> 0;
}

/** Reads and parses a zone file; relative `$INCLUDE` paths resolve against its directory. */
export function parseZoneFile(
  path: string,
  options: Omit<ZoneParseOptions, "file" | "readFile"> = {},
): ZoneParseResult {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    const reason = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    return {
      records: [],
      problems: [{ file: path, line: 0, message: `cannot read zone file: ${reason}` }],
    };
  }
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
  return parseZoneText(text, {
    ...options,
    file: path,
    readFile: (p) => Deno.readTextFileSync(p.startsWith("/") ? p : dir + p),
  });
}
