#!/usr/bin/env node
// House rules that no linter knows, checked by `npm test` (TigerBeetle's tidy.zig is the model).
// Prints one line per violation, `file:line: rule: why`, and exits 1 if there is any.
//
//   node scripts/tidy.mjs [--root DIR]
//
// Rules:
//   pure-core         pure cores read no clock, set no timers, draw no randomness, never await, do no I/O
//   simulated-driver  drivers the seeded simulations run take time, timers, randomness and I/O from their
//                     inputs (they may await)
//   package-internals a package is imported through its package.json exports, never by path into its
//                     sources; package sources never import `@samsa/*/internal` (that entry is for tests)
//   import-cycle      no import cycle among a package's source files (type-only imports count too)
//   layer-cycle       no cycle among a package's top-level source directories (no arrow back up)
//   line-width        no code line longer than the formatter's width (Biome cannot wrap strings and comments)
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Pure cores: an entry is a file, or a directory (ending in `/`) that covers every .ts file below it except
 * the drivers beside the core, named `driver.ts` or `*-driver.ts`, which are simulated drivers. A file
 * anywhere else joins by starting with the line `// tidy: pure`.
 */
export const PURE_CORES = [
  'packages/protocol/src/', // codecs, tables and checksums: no I/O at all
  'packages/broker/src/replication/leader.ts',
  'packages/broker/src/replication/follower.ts',
  'packages/broker/src/replication/epoch-cache.ts',
  'packages/broker/src/replication/batches.ts',
  'packages/broker/src/controller/core.ts',
  'packages/broker/src/controller/assignment.ts',
  'packages/broker/src/cluster/metadata.ts',
  'packages/broker/src/group/', // consumer groups: the state machine; its driver is group/*driver.ts
  'packages/broker/src/storage/producer-state.ts',
  'packages/coordinator/src/core.ts',
  'packages/coordinator/src/jute.ts',
  'packages/coordinator/src/watches.ts',
  'packages/coordinator/src/acl.ts',
  'packages/coordinator/src/paths.ts',
  'packages/coordinator/src/records.ts',
  'packages/client/src/group/membership.ts',
];

/** Drivers generic over their I/O, which the seeded simulations run: held to the pure rules except await. */
export const SIMULATED_DRIVERS = [
  'packages/broker/src/replication/driver.ts',
  'packages/broker/src/replication/leader-driver.ts',
  'packages/broker/src/replication/follower-driver.ts',
  'packages/broker/src/controller/driver.ts',
  'packages/client/src/group/driver.ts',
];

/** Files inside a pure directory that are not pure, each with its reason. */
export const NOT_PURE = {
  'packages/protocol/src/grpc/load.ts': 'reads the .proto files and builds the gRPC stubs at start-up',
};

export const PURE_MARKER = '// tidy: pure';
export const LINE_WIDTH = 120; // biome.json formatter.lineWidth

/** Never checked: what biome.json leaves out too (built, installed, generated and transcribed files). */
const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', '.tools']);
const SKIP_PATHS = ['packages/protocol/src/grpc/gen/', 'test/coordinator/cases/'];
const CODE_FILE = /\.(ts|mts|cts|js|mjs|cjs)$/;

const IMPURE = [
  [/\bDate\.now\b|\bnew Date\(\s*\)/, 'reads the clock: time is an input'],
  [/\bperformance\.now\b|\bprocess\.hrtime\b/, 'reads the clock: time is an input'],
  [/\b(setTimeout|setInterval|setImmediate)\b/, 'sets a timer: timers come from the clock the driver is given'],
  [/\bMath\.random\b/, 'draws randomness: it is an input, so that a seed replays it'],
  [
    /\b(randomBytes|randomUUID|randomInt|getRandomValues)\b/,
    'draws randomness: it is an input, so that a seed replays it',
  ],
];
const ASYNC = [/\b(async|await)\b/, 'is asynchronous: a core steps synchronously and its driver awaits'];
const IO_MODULES = /^(node:)?(fs|fs\/promises|net|dgram|tls|http|https|http2|child_process|worker_threads|cluster)$/;

/**
 * The source with comments blanked (`code`: strings kept, for import specifiers) and with comments and the
 * text of string, template and regex literals blanked (`bare`: for keywords). Line breaks stay where they are.
 */
export function lex(source) {
  const code = [...source];
  const bare = [...source];
  const blank = (out, from, to) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  const templateDepths = []; // brace depth at each open `${`
  let depth = 0;
  let i = 0;
  let last = ''; // the last significant character of code, to tell a regex from a division
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      const stop = end === -1 ? source.length : end;
      blank(code, i, stop);
      blank(bare, i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? source.length : end + 2;
      blank(code, i, stop);
      blank(bare, i, stop);
      i = stop;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== c && source[j] !== '\n') j += source[j] === '\\' ? 2 : 1;
      blank(bare, i + 1, j);
      i = j + 1;
      last = c;
    } else if (c === '`' || (c === '}' && templateDepths.at(-1) === depth)) {
      if (c === '}') templateDepths.pop();
      let j = i + 1;
      while (j < source.length && source[j] !== '`' && !(source[j] === '$' && source[j + 1] === '{')) {
        j += source[j] === '\\' ? 2 : 1;
      }
      blank(bare, i + 1, j);
      if (source[j] === '$') {
        templateDepths.push(depth);
        i = j + 2;
      } else {
        i = j + 1;
      }
      last = '`';
    } else if (c === '/' && startsRegex(source, i, last)) {
      let j = i + 1;
      let inClass = false;
      while (j < source.length && source[j] !== '\n' && (inClass || source[j] !== '/')) {
        if (source[j] === '[') inClass = true;
        else if (source[j] === ']') inClass = false;
        j += source[j] === '\\' ? 2 : 1;
      }
      blank(bare, i + 1, j);
      i = j + 1;
      last = '/';
    } else {
      if (c === '{') depth++;
      else if (c === '}') depth--;
      if (!/\s/.test(c)) last = c;
      i++;
    }
  }
  return { code: code.join(''), bare: bare.join('') };
}

function startsRegex(source, i, last) {
  if (last === '' || '(,=:[!&|?{};+-*%<>~^'.includes(last)) return true;
  const before = source.slice(Math.max(0, i - 12), i).trimEnd();
  return /\b(return|typeof|case|do|else|in|of|new|delete|void|throw|yield|await)$/.test(before);
}

const lineAt = (text, index) => {
  let line = 1;
  for (let k = 0; k < index; k++) if (text.charCodeAt(k) === 10) line++;
  return line;
};

/** Every module specifier a file imports or re-exports, statically or dynamically, with its line. */
export function importsOf(source) {
  const { code, bare } = lex(source);
  const found = [];
  const patterns = [
    /\b(import|export)\s+(?:type\s+)?(?:[\w$*{}\s,]+?\s+from\s*)?(['"])([^'"\n]+)\2/g,
    /\b(import|require)\s*\(\s*(['"])([^'"\n]+)\2\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const m of code.matchAll(pattern)) {
      if (bare.slice(m.index, m.index + m[1].length) !== m[1]) continue; // the keyword sits inside a literal
      found.push({ specifier: m[3], line: lineAt(code, m.index + m[0].indexOf(m[2])) });
    }
  }
  return found;
}

function walk(root, dir = root, files = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const rel = relative(root, path).split(sep).join('/');
    if (entry.isDirectory()) {
      if (SKIP_DIRS.has(entry.name) || SKIP_PATHS.includes(`${rel}/`)) continue;
      walk(root, path, files);
    } else if (CODE_FILE.test(entry.name)) {
      files.push(rel);
    }
  }
  return files;
}

const isDriverFile = (rel) => /(^|\/|-)driver\.ts$/.test(rel);

/** 'pure-core', 'simulated-driver' or undefined: which of the two rules a file is held to. */
export function kindOf(rel, source) {
  if (source.startsWith(PURE_MARKER)) return 'pure-core';
  if (!rel.endsWith('.ts') || rel in NOT_PURE) return undefined;
  if (SIMULATED_DRIVERS.includes(rel)) return 'simulated-driver';
  for (const entry of PURE_CORES) {
    if (rel === entry) return 'pure-core';
    if (entry.endsWith('/') && rel.startsWith(entry)) return isDriverFile(rel) ? 'simulated-driver' : 'pure-core';
  }
  return undefined;
}

function checkPure(rel, source, rule, report) {
  const { bare } = lex(source);
  const rules = rule === 'pure-core' ? [...IMPURE, ASYNC] : IMPURE;
  bare.split('\n').forEach((text, k) => {
    for (const [pattern, why] of rules) {
      const m = pattern.exec(text);
      if (m) report(rel, k + 1, rule, `\`${m[0]}\` ${why}`);
    }
  });
  for (const { specifier, line } of importsOf(source)) {
    if (IO_MODULES.test(specifier) || specifier.startsWith('@grpc/')) {
      report(rel, line, rule, `imports ${specifier}: I/O comes through the interfaces the driver is given`);
    }
  }
}

/** packages/<dir>/package.json: the npm name and the subpaths its exports field offers. */
function readPackages(root) {
  const byDir = new Map();
  const dir = join(root, 'packages');
  if (!existsSync(dir)) return byDir;
  for (const name of readdirSync(dir)) {
    const manifest = join(dir, name, 'package.json');
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
    const exportsField = pkg.exports ?? { '.': pkg.main };
    const subpaths = typeof exportsField === 'string' ? ['.'] : Object.keys(exportsField);
    byDir.set(name, { name: pkg.name, subpaths: new Set(subpaths) });
  }
  return byDir;
}

/** Which package a repository path belongs to, and which part of it (src, test, ...). */
function placeOf(rel) {
  const m = /^packages\/([^/]+)\/([^/]+)/.exec(rel);
  return m ? { pkg: m[1], part: m[2] } : undefined;
}

function resolveRelative(rel, specifier) {
  const target = join(dirname(rel), specifier).split(sep).join('/');
  return target.replace(/\.(m|c)?js$/, (ext) => ext.replace('js', 'ts'));
}

function checkImports(rel, source, packages, report) {
  const from = placeOf(rel);
  const byName = new Map([...packages].map(([dir, p]) => [p.name, { dir, ...p }]));
  for (const { specifier, line } of importsOf(source)) {
    if (specifier.startsWith('.')) {
      const target = resolveRelative(rel, specifier);
      const to = placeOf(target);
      if (from?.part === 'src' && !target.startsWith(`packages/${from.pkg}/src/`)) {
        report(rel, line, 'package-internals', `imports ${specifier}: package sources import only inside src/`);
      } else if (to && to.pkg !== from?.pkg && (to.part === 'src' || to.part === 'dist')) {
        const name = packages.get(to.pkg)?.name ?? to.pkg;
        report(rel, line, 'package-internals', `imports ${specifier}: reach ${name} through its exports instead`);
      }
      continue;
    }
    const m = /^(@[^/]+\/[^/]+)(\/.*)?$/.exec(specifier);
    const pkg = m && byName.get(m[1]);
    if (!pkg) continue;
    const subpath = `.${m[2] ?? ''}`;
    if (!pkg.subpaths.has(subpath)) {
      report(rel, line, 'package-internals', `imports ${specifier}: not in ${pkg.name}'s package.json exports`);
    } else if (from?.part === 'src' && subpath.endsWith('/internal')) {
      report(rel, line, 'package-internals', `imports ${specifier}: internal entries are for tests, not packages`);
    }
  }
}

/** Strongly connected components of a graph (Tarjan), each as a list of nodes. */
export function stronglyConnected(graph) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  const visit = (v) => {
    index.set(v, index.size);
    low.set(v, index.get(v));
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      components.push(component);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return components;
}

/** Every cycle group of the graph, each as one shortest cycle through its first node: [a, b, ..., a]. */
export function findCycles(graph) {
  const cycles = [];
  for (const component of stronglyConnected(graph)) {
    const members = new Set(component);
    const start = component.sort()[0];
    if (component.length === 1 && !(graph.get(start) ?? []).includes(start)) continue;
    const previous = new Map();
    const queue = [start];
    let path;
    while (queue.length > 0 && !path) {
      const v = queue.shift();
      for (const w of [...(graph.get(v) ?? [])].sort()) {
        if (w === start) {
          path = [v];
          for (let u = v; u !== start; u = previous.get(u)) path.unshift(previous.get(u));
          path.push(start);
          break;
        }
        if (members.has(w) && !previous.has(w)) {
          previous.set(w, v);
          queue.push(w);
        }
      }
    }
    cycles.push({ path, size: component.length });
  }
  return cycles;
}

function checkCycles(sources, report) {
  const graphs = new Map(); // package -> file -> imported files
  const lines = new Map(); // "from->to" -> line of the import
  for (const [rel, source] of sources) {
    const place = placeOf(rel);
    if (place?.part !== 'src' || !rel.endsWith('.ts')) continue;
    const graph = graphs.get(place.pkg) ?? new Map();
    graphs.set(place.pkg, graph);
    const edges = new Set();
    for (const { specifier, line } of importsOf(source)) {
      if (!specifier.startsWith('.')) continue;
      const target = resolveRelative(rel, specifier);
      if (!sources.has(target) || !target.startsWith(`packages/${place.pkg}/src/`)) continue;
      edges.add(target);
      if (!lines.has(`${rel}->${target}`)) lines.set(`${rel}->${target}`, line);
    }
    graph.set(rel, [...edges]);
  }
  for (const [pkg, graph] of [...graphs].sort()) {
    const prefix = `packages/${pkg}/src/`;
    for (const { path, size } of findCycles(graph)) {
      const shown = path.map((f) => f.slice(prefix.length)).join(' -> ');
      const group = size > path.length - 1 ? ` (${size} files in the cycle group)` : '';
      report(path[0], lines.get(`${path[0]}->${path[1]}`), 'import-cycle', `${shown}${group}`);
    }
    checkLayers(prefix, graph, lines, report);
  }
}

/** The same over a package's top-level directories: an arrow back up (cluster -> controller -> cluster). */
function checkLayers(prefix, graph, lines, report) {
  const layerOf = (file) => file.slice(prefix.length).split('/')[0];
  const layers = new Map();
  const witness = new Map(); // "a->b" -> the first file import that makes the arrow
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    const arrows = layers.get(from) ?? new Set();
    layers.set(from, arrows);
    for (const target of targets) {
      const to = layerOf(target);
      if (to === from) continue;
      arrows.add(to);
      if (!witness.has(`${from}->${to}`)) witness.set(`${from}->${to}`, [file, target]);
    }
  }
  const graphOfLayers = new Map([...layers].map(([layer, arrows]) => [layer, [...arrows]]));
  for (const { path } of findCycles(graphOfLayers)) {
    if (path.length <= 2) continue;
    const arrows = path.slice(1).map((to, k) => witness.get(`${path[k]}->${to}`));
    const how = arrows.map(([file, target]) => `${file.slice(prefix.length)} imports ${target.slice(prefix.length)}`);
    const [file, target] = arrows[0];
    report(file, lines.get(`${file}->${target}`), 'layer-cycle', `${path.join(' -> ')} (${how.join('; ')})`);
  }
}

function checkWidth(rel, source, report) {
  source.split('\n').forEach((text, k) => {
    const width = [...text].length;
    if (width > LINE_WIDTH) report(rel, k + 1, 'line-width', `${width} columns, over ${LINE_WIDTH}`);
  });
}

/** Every violation under root, sorted by file and line. */
export function tidy(root) {
  const violations = [];
  const report = (file, line, rule, why) => violations.push({ file, line, rule, why });
  const packages = readPackages(root);
  const sources = new Map(walk(root).map((rel) => [rel, readFileSync(join(root, rel), 'utf8')]));
  for (const [rel, source] of sources) {
    const kind = kindOf(rel, source);
    if (kind) checkPure(rel, source, kind, report);
    checkImports(rel, source, packages, report);
    checkWidth(rel, source, report);
  }
  checkCycles(sources, report);
  return violations.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

function main(argv) {
  const rootFlag = argv.indexOf('--root');
  const root = resolve(rootFlag === -1 ? fileURLToPath(new URL('..', import.meta.url)) : argv[rootFlag + 1]);
  if (!statSync(root).isDirectory()) throw new Error(`${root} is not a directory`);
  const violations = tidy(root);
  for (const v of violations) console.log(`${v.file}:${v.line}: ${v.rule}: ${v.why}`);
  if (violations.length > 0) console.log(`tidy: ${violations.length} violation(s)`);
  return violations.length > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
