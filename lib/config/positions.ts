/**
 * Finds where each key and value of a TOML document stands, so that every
 * config error can name FILE:LINE:COL. smol-toml parses and reports syntax
 * errors; this scanner only runs on documents it accepted, and records
 * positions by key path (`dns.listen[1]`, `alerts.mail.to[0]`, `dns.zone[2].name`).
 *
 * @module
 */

/** A 1-based line and column. */
export interface Position {
  line: number;
  col: number;
}

/** Positions of keys and values in one document, by path. */
export interface PositionIndex {
  /** Where the value at `path` starts. */
  value: Map<string, Position>;
  /** Where the key that names `path` starts (tables: their header). */
  key: Map<string, Position>;
}

/** Joins path parts the way {@linkcode PositionIndex} keys are written. */
export function pathText(parts: (string | number)[]): string {
  let out = "";
  for (const p of parts) {
    if (typeof p === "number") out += `[${p}]`;
    else out += (out === "" ? "" : ".") + (/^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p));
  }
  return out;
}

/** Scans `text` and returns the position of every key and value. */
export function indexPositions(text: string): PositionIndex {
  const index: PositionIndex = { value: new Map(), key: new Map() };
  let i = 0, line = 1, col = 1;
  const arrayTableCounts = new Map<string, number>();
  let table: (string | number)[] = [];

  const pos = (): Position => ({ line, col });
  const advance = (n = 1) => {
    for (let k = 0; k < n && i < text.length; k++, i++) {
      if (text[i] === "\n") {
        line++;
        col = 1;
      } else col++;
    }
  };
  const skipSpace = (newlines: boolean) => {
    while (i < text.length) {
      const c = text[i];
      if (c === " " || c === "\t" || c === "\r" || (newlines && c === "\n")) advance();
      else if (c === "#") { while (i < text.length && text[i] !== "\n") advance(); }
      else break;
    }
  };
  const readString = (): string => {
    const q = text[i];
    const triple = text.startsWith(q.repeat(3), i);
    const close = triple ? q.repeat(3) : q;
    advance(close.length);
    let out = "";
    while (i < text.length && !text.startsWith(close, i)) {
      if (q === '"' && text[i] === "\\") {
        out += text[i + 1];
        advance(2);
        continue;
      }
      out += text[i];
      advance();
    }
    advance(close.length);
    // A triple-quoted string may end with up to two more quotes inside it.
    while (triple && text[i] === q) advance();
    return out;
  };
  const readKey = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      skipSpace(false);
      if (text[i] === '"' || text[i] === "'") parts.push(readString());
      else {
        let k = "";
        while (i < text.length && /[A-Za-z0-9_-]/.test(text[i])) {
          k += text[i];
          advance();
        }
        parts.push(k);
      }
      skipSpace(false);
      if (text[i] === ".") advance();
      else return parts;
    }
  };
  const readValue = (path: (string | number)[]): void => {
    skipSpace(false);
    index.value.set(pathText(path), pos());
    const c = text[i];
    if (c === '"' || c === "'") {
      readString();
    } else if (c === "[") {
      advance();
      let n = 0;
      for (;;) {
        skipSpace(true);
        if (text[i] === "]" || i >= text.length) break;
        readValue([...path, n++]);
        skipSpace(true);
        if (text[i] === ",") advance();
      }
      advance();
    } else if (c === "{") {
      advance();
      for (;;) {
        skipSpace(false);
        if (text[i] === "}" || i >= text.length) break;
        const keyPos = pos();
        const key = readKey();
        index.key.set(pathText([...path, ...key]), keyPos);
        advance(); // '='
        readValue([...path, ...key]);
        skipSpace(false);
        if (text[i] === ",") advance();
      }
      advance();
    } else {
      while (i < text.length && !/[,\]}\n#]/.test(text[i])) advance();
    }
  };

  while (i < text.length) {
    skipSpace(true);
    if (i >= text.length) break;
    if (text[i] === "[") {
      const headerPos = pos();
      const isArray = text[i + 1] === "[";
      advance(isArray ? 2 : 1);
      const key = readKey();
      advance(isArray ? 2 : 1);
      if (isArray) {
        const k = pathText(key);
        const n = arrayTableCounts.get(k) ?? 0;
        arrayTableCounts.set(k, n + 1);
        table = [...key, n];
      } else {
        table = key;
      }
      // Nested array-of-tables paths under an indexed parent resolve to the latest parent entry.
      table = resolveArrayParents(table, arrayTableCounts);
      index.key.set(pathText(table), headerPos);
      index.value.set(pathText(table), headerPos);
      continue;
    }
    const keyPos = pos();
    const key = readKey();
    index.key.set(pathText([...table, ...key]), keyPos);
    skipSpace(false);
    advance(); // '='
    readValue([...table, ...key]);
  }
  return index;
}

function resolveArrayParents(
  path: (string | number)[],
  counts: Map<string, number>,
): (string | number)[] {
  const out: (string | number)[] = [];
  for (let k = 0; k < path.length; k++) {
    out.push(path[k]);
    const next = path[k + 1];
    if (typeof next === "number") continue;
    const n = counts.get(pathText(path.slice(0, k + 1).filter((p) => typeof p === "string")));
    if (n !== undefined && k < path.length - 1) out.push(n - 1);
  }
  return out;
}
