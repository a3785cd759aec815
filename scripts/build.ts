/**
 * `deno task compile`: builds the single `dist/vigia` executable with
 * `deno compile`, using exactly the permission flags of the `vigia` task in
 * deno.json (the flags the test suite runs the daemon with), and embedding
 * every file the code reaches at run time through `new URL(..., import.meta.url)`
 * (workers, data files) that static imports do not pull in.
 *
 * `deno compile` needs a `denort` runtime. It is looked up, in order, in
 * `$DENORT_BIN`, next to the `deno` executable (`$(dirname $(which deno))/denort`,
 * also beside the symlink's target), and in Deno's own download cache
 * (`$DENO_DIR/dl/release/v<version>/denort-<target>.zip`). Deno would download
 * that zip itself, which these machines cannot do, so when none exists the
 * build says why and exits with {@linkcode EXIT_NO_DENORT}.
 *
 * Exit codes: 0 built, 1 compile or self-check failed, 2 usage,
 * 3 no denort runtime available.
 *
 * @example
 * ```sh
 * deno task compile                       # → dist/vigia
 * DENORT_BIN=/opt/denort deno task compile
 * deno run --allow-all scripts/build.ts --output /tmp/vigia --dry-run
 * ```
 *
 * @module
 */

/** Exit code when no denort runtime can be found (the compile test skips on it). */
export const EXIT_NO_DENORT = 3;

/** Absolute path of the repository root, without a trailing slash. */
export const repoRoot: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** The `vigia` task of deno.json taken apart. */
export interface VigiaTask {
  /** Every flag between `run` and the entry module, in order (permissions and any runtime flag). */
  flags: string[];
  /** The entry module, relative to the repository root (`main.ts`). */
  entry: string;
}

/**
 * Reads the `vigia` task of deno.json (`deno run FLAGS... main.ts`) and returns
 * its flags and entry module. Throws with the task text when it has another shape.
 *
 * @example
 * ```ts ignore
 * const { flags, entry } = readVigiaTask(repoRoot); // flags: ["--allow-read", ...], entry: "main.ts"
 * ```
 */
export function readVigiaTask(root: string = repoRoot): VigiaTask {
  const denoJson = JSON.parse(Deno.readTextFileSync(`${root}/deno.json`));
  const task = denoJson?.tasks?.vigia;
  if (typeof task !== "string") {
    throw new Error(`deno.json has no "vigia" task (a string "deno run FLAGS main.ts")`);
  }
  if (/["'`$\\|;&<>]/.test(task)) {
    throw new Error(
      `the "vigia" task must be plain words without quoting or shell syntax: ${task}`,
    );
  }
  const words = task.trim().split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run" || words.length < 3) {
    throw new Error(`the "vigia" task must read "deno run FLAGS... ENTRY": ${task}`);
  }
  const entry = words[words.length - 1];
  const flags = words.slice(2, -1);
  if (entry.startsWith("-")) throw new Error(`the "vigia" task names no entry module: ${task}`);
  const notFlag = flags.find((f) => !f.startsWith("-"));
  if (notFlag) throw new Error(`the "vigia" task has "${notFlag}" between its flags: ${task}`);
  return { flags, entry };
}

/** Where a denort runtime was found. */
export interface DenortSource {
  /** `env` ($DENORT_BIN), `beside-deno`, or `deno-cache` (the zip deno itself would download). */
  kind: "env" | "beside-deno" | "deno-cache";
  /** The file. */
  path: string;
  /** The value to give DENORT_BIN, or undefined when deno finds it by itself (cache). */
  denortBin?: string;
}

/** Result of {@linkcode findDenort}: a source, or every place looked at and why it did not fit. */
export type DenortLookup = { found: DenortSource; tried: string[] } | {
  found?: undefined;
  tried: string[];
};

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function realPath(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return path;
  }
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function which(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? "").split(":")) {
    if (dir && isFile(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

/** Options of {@linkcode findDenort}. */
export interface FindDenortOptions {
  /** Environment to read DENORT_BIN, PATH and DENO_DIR from. @default Deno.env.toObject() */
  env?: Record<string, string>;
  /** The deno executable compiling. @default Deno.execPath() */
  denoPath?: string;
  /** Deno's cache directory. @default from `deno info --json`, else $DENO_DIR or ~/.cache/deno */
  denoDir?: string;
}

/**
 * Finds a denort runtime for `deno compile` (see the module doc for the order).
 * A DENORT_BIN that is missing, or that is the `deno` CLI itself (which would
 * yield a binary that behaves as `deno`, not as vigia), is reported, not used.
 */
export function findDenort(options: FindDenortOptions = {}): DenortLookup {
  const env = options.env ?? Deno.env.toObject();
  const denoPath = options.denoPath ?? Deno.execPath();
  const denoReal = realPath(denoPath);
  const tried: string[] = [];
  const isDenoItself = (p: string) => realPath(p) === denoReal;

  const fromEnv = env.DENORT_BIN;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!isFile(fromEnv)) tried.push(`$DENORT_BIN=${fromEnv}: no such file`);
    else if (isDenoItself(fromEnv)) {
      tried.push(`$DENORT_BIN=${fromEnv}: that is the deno CLI, not denort`);
    } else return { found: { kind: "env", path: fromEnv, denortBin: fromEnv }, tried };
  } else {
    tried.push("$DENORT_BIN: not set");
  }

  const dirs = new Set<string>();
  const onPath = which("deno", env.PATH);
  if (onPath) dirs.add(dirname(onPath));
  dirs.add(dirname(denoPath));
  dirs.add(dirname(denoReal));
  for (const dir of dirs) {
    const candidate = `${dir}/denort`;
    if (isFile(candidate) && !isDenoItself(candidate)) {
      return { found: { kind: "beside-deno", path: candidate, denortBin: candidate }, tried };
    }
    tried.push(`${candidate}: no such file`);
  }

  const denoDir = options.denoDir ?? defaultDenoDir(env);
  const version = Deno.version.deno;
  const zip = `${denoDir}/dl/release/v${version}/denort-${Deno.build.target}.zip`;
  if (isFile(zip)) return { found: { kind: "deno-cache", path: zip }, tried };
  tried.push(`${zip}: not in deno's download cache (deno would download it from dl.deno.land)`);
  return { tried };
}

function defaultDenoDir(env: Record<string, string>): string {
  if (env.DENO_DIR) return env.DENO_DIR;
  try {
    const out = new Deno.Command(Deno.execPath(), {
      args: ["info", "--json"],
      stdout: "piped",
      stderr: "null",
    })
      .outputSync();
    const dir = JSON.parse(new TextDecoder().decode(out.stdout))?.denoDir;
    if (typeof dir === "string") return dir;
  } catch { /* fall back below */ }
  return `${env.XDG_CACHE_HOME ?? `${env.HOME ?? ""}/.cache`}/deno`;
}

const RUNTIME_URL = /new\s+URL\(\s*(["'`])([^"'`$]+)\1\s*,\s*import\.meta\.url\s*\)/g;
const META_RESOLVE = /import\.meta\.resolve\(\s*(["'`])([^"'`$]+)\1\s*\)/g;

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* sourceFiles(p);
    else if (/\.(ts|js|mjs)$/.test(e.name)) yield p;
  }
}

/** A file or directory that the code opens at run time, and who opens it. */
export interface RuntimeInclude {
  /** Path relative to the repository root. */
  path: string;
  /** Source file (relative) and the literal that names it. */
  from: string;
}

/**
 * Lists what `deno compile` must embed with `--include`: every existing target
 * of `new URL("literal", import.meta.url)` and `import.meta.resolve("literal")`
 * in the entry module and `lib/` (worker modules, data files, directories).
 * Non-literal URLs cannot be found this way; the compile test catches them.
 */
export async function runtimeIncludes(
  root: string = repoRoot,
  entry = "main.ts",
): Promise<RuntimeInclude[]> {
  const files = [`${root}/${entry}`];
  for await (const f of sourceFiles(`${root}/lib`)) files.push(f);
  const found = new Map<string, RuntimeInclude>();
  for (const file of files.sort()) {
    const text = await Deno.readTextFile(file);
    for (const re of [RUNTIME_URL, META_RESOLVE]) {
      for (const m of text.matchAll(re)) {
        const literal = m[2];
        if (/^[a-z][a-z0-9+.-]*:/i.test(literal) && !literal.startsWith("file:")) continue; // npm:, data:, https:
        const target = new URL(literal, `file://${file}`);
        if (target.protocol !== "file:") continue;
        const abs = decodeURIComponent(target.pathname).replace(/\/$/, "");
        if (!abs.startsWith(`${root}/`) || abs === file) continue;
        try {
          Deno.statSync(abs);
        } catch {
          continue; // a path computed at run time under a directory, or a file made later
        }
        const rel = abs.slice(root.length + 1);
        if (!found.has(rel)) {
          found.set(rel, { path: rel, from: `${file.slice(root.length + 1)}: "${literal}"` });
        }
      }
    }
  }
  return [...found.values()].sort((a, b) => a.path.localeCompare(b.path));
}

/** Options of {@linkcode compileArgs}. */
export interface CompileArgsOptions {
  /** Output file. @default `${root}/dist/vigia` */
  output?: string;
  /** Repository root. @default repoRoot */
  root?: string;
}

/** The whole `deno compile ...` argument list (without the `deno` executable). */
export async function compileArgs(options: CompileArgsOptions = {}): Promise<string[]> {
  const { root = repoRoot } = options;
  const output = options.output ?? `${root}/dist/vigia`;
  const { flags, entry } = readVigiaTask(root);
  const includes = await runtimeIncludes(root, entry);
  return [
    "compile",
    "--quiet",
    "--config",
    `${root}/deno.json`,
    ...flags,
    ...includes.flatMap((i) => ["--include", `${root}/${i.path}`]),
    "--output",
    output,
    `${root}/${entry}`,
  ];
}

async function main(args: string[]): Promise<number> {
  let output = `${repoRoot}/dist/vigia`;
  let dryRun = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--output" || a === "-o") output = args[++i] ?? "";
    else if (a.startsWith("--output=")) output = a.slice("--output=".length);
    else if (a === "--dry-run") dryRun = true;
    else if (a === "--help" || a === "-h") {
      console.log("usage: deno task compile [--output FILE] [--dry-run]");
      return 0;
    } else {
      console.error(
        `build: unknown argument "${a}"\nusage: deno task compile [--output FILE] [--dry-run]`,
      );
      return 2;
    }
  }
  if (!output) {
    console.error("build: --output needs a file name");
    return 2;
  }
  if (!output.startsWith("/")) output = `${Deno.cwd()}/${output}`;

  const cmdArgs = await compileArgs({ output });
  const includes = await runtimeIncludes(repoRoot, readVigiaTask().entry);
  console.error(`build: flags from deno.json task "vigia": ${readVigiaTask().flags.join(" ")}`);
  for (const i of includes) console.error(`build: embedding ${i.path} (${i.from})`);

  const lookup = findDenort();
  if (!lookup.found) {
    console.error(
      "build: cannot compile: no denort runtime. deno compile would download " +
        `denort-${Deno.build.target}.zip for deno ${Deno.version.deno} from dl.deno.land, ` +
        "which this machine cannot reach. Looked at:\n" +
        lookup.tried.map((t) => `  - ${t}`).join("\n") +
        "\nProvide one: DENORT_BIN=/path/to/denort deno task compile (the denort of the same deno version).",
    );
    return EXIT_NO_DENORT;
  }
  console.error(`build: denort from ${lookup.found.kind}: ${lookup.found.path}`);
  if (dryRun) {
    console.log([Deno.execPath(), ...cmdArgs].join(" "));
    return 0;
  }

  await Deno.mkdir(dirname(output), { recursive: true });
  const env: Record<string, string> = {};
  if (lookup.found.denortBin) env.DENORT_BIN = lookup.found.denortBin;
  const compiled = await new Deno.Command(Deno.execPath(), {
    args: cmdArgs,
    env,
    cwd: repoRoot,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!compiled.success) {
    console.error(`build: deno compile failed (exit ${compiled.code})`);
    return 1;
  }

  // A DENORT_BIN that is some other program gives a binary that is not vigia: check.
  let printed = "";
  let problem = "";
  try {
    const version = await new Deno.Command(output, {
      args: ["--version"],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    printed = new TextDecoder().decode(version.stdout).trim();
    if (!version.success) problem = `"--version" exited ${version.code}`;
    else if (!/^\d+\.\d+\.\d+/.test(printed)) {
      problem = `"--version" printed "${printed.slice(0, 60)}"`;
    }
  } catch (e) {
    problem = `it does not run: ${(e as Error).message}`;
  }
  if (problem) {
    console.error(
      `build: ${output} does not behave as vigia (${problem}); ` +
        `is ${lookup.found.path} the denort of deno ${Deno.version.deno}? Removed it.`,
    );
    await Deno.remove(output).catch(() => {});
    return 1;
  }
  const size = Deno.statSync(output).size;
  console.error(
    `build: wrote ${output} (${(size / 1048576).toFixed(1)} MiB), --version: ${printed}`,
  );
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
