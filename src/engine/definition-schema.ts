/*
 * The load definition's JSON Schema at run time. Ajv validates a definition against
 * schemas/definition.json, the same file editors use through "$schema", so code and schema
 * cannot disagree. Each Ajv error becomes one sentence that starts with the JSON path:
 * unknown keys with the nearest known name, wrong types named as such, missing fields with
 * the flag that can supply them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

export const PACKAGE_NAME = '@datacloud/plugin-datacloud-load';

export type DefinitionProblem = {
  /** JSON path of the value, e.g. pacing.maxConcurrency, target.mapping["Name__c"], source.columns[2]. */
  path: string;
  /** One sentence that starts with the path. */
  message: string;
  /** The fix, when the message does not already say it. */
  action?: string;
};

/** Where a value came from and which flag could supply a missing one. */
export type Provenance = {
  /** The flag that gave this value (the path or a parent of it), if any. */
  fromFlag(path: string): string | undefined;
  /** The flag that can set this path, if any. */
  flagFor(path: string): string | undefined;
};

type Node = {
  $ref?: string;
  type?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: Node[];
  properties?: Record<string, Node>;
  items?: Node;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  maxItems?: number;
  'x-expected'?: string;
  'x-reason'?: string;
  patternErrorMessage?: string;
  definitions?: Record<string, Node>;
};

let cached: { path: string; schema: Node; validate: ValidateFunction } | undefined;

/** The package root: the nearest folder above this file with this plugin's package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`Can't find the ${PACKAGE_NAME} package root above ${fileURLToPath(import.meta.url)}.`);
    dir = up;
  }
}

let schemaFile: string | undefined;

/** Absolute path of schemas/definition.json in the installed package (no compile). */
export function definitionSchemaPath(): string {
  schemaFile ??= join(packageRoot(), 'schemas', 'definition.json');
  return schemaFile;
}

function load(): NonNullable<typeof cached> {
  if (!cached) {
    const path = definitionSchemaPath();
    const schema = JSON.parse(readFileSync(path, 'utf8')) as Node;
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true });
    // Annotations: x-expected/x-reason for these messages, the other two for editors (VS Code).
    ajv.addVocabulary(['x-expected', 'x-reason', 'errorMessage', 'patternErrorMessage']);
    cached = { path, schema, validate: ajv.compile(schema) };
  }
  return cached;
}

/** The parsed schema (read-only). */
export function definitionSchema(): Readonly<Record<string, unknown>> {
  return load().schema as Record<string, unknown>;
}

/** Check a definition document against the schema; one problem per thing wrong. */
export function schemaProblems(doc: unknown, prov: Provenance): DefinitionProblem[] {
  const { schema, validate } = load();
  if (validate(doc)) return [];
  const errors = validate.errors ?? [];
  // An anyOf error summarises its branches; an invalid property name is told by the inner error.
  const summarised = errors.filter((e) => e.keyword === 'anyOf').map((e) => `${e.schemaPath}/`);
  const kept = errors.filter((e) => e.keyword !== 'propertyNames' && !summarised.some((p) => e.schemaPath.startsWith(p)));
  const seen = new Set<string>();
  const out: DefinitionProblem[] = [];
  for (const e of kept) {
    const p = translate(e, doc, schema, prov);
    const id = `${p.path}\n${p.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(p);
  }
  return out;
}

function translate(e: ErrorObject, doc: unknown, root: Node, prov: Provenance): DefinitionProblem {
  const segs = pointer(e.instancePath);
  if (e.keyword === 'required') {
    const name = (e.params as { missingProperty: string }).missingProperty;
    const path = formatPath([...segs, name], doc);
    const flag = prov.flagFor(path);
    const node = resolve(root, (e.parentSchema as Node).properties?.[name] ?? {});
    const example = 'const' in node ? ` "${name}": ${JSON.stringify(node.const)}` : '';
    return {
      path,
      message: flag ? `${path} is missing: set it in the definition file or pass ${flag}.` : `${path} is missing${example ? `: add${example}` : ''}.`,
    };
  }
  if (e.keyword === 'additionalProperties') {
    const name = (e.params as { additionalProperty: string }).additionalProperty;
    const path = formatPath([...segs, name], doc);
    const known = Object.keys((e.parentSchema as Node).properties ?? {}).filter((k) => k !== '$schema');
    const here = formatPath(segs, doc);
    const near = nearest(name, known);
    if (near) return { path, message: `${path} is not a known setting; did you mean ${here ? `${here}.` : ''}${near}?` };
    const elsewhere = nearest(name, allPaths(root).filter((p) => !known.includes(p)), (p) => p.split('.').pop()!);
    if (elsewhere) return { path, message: `${path} is not a known setting here; did you mean ${elsewhere}?` };
    return { path, message: `${path} is not a known setting; the settings ${here ? `of ${here}` : 'at the top level'} are: ${known.join(', ')}.` };
  }
  // A property name that breaks propertyNames (target.mapping keys).
  if (e.propertyName !== undefined) {
    const path = formatPath([...segs, e.propertyName], doc);
    const from = prov.fromFlag(path);
    const node = e.parentSchema as Node;
    return { path, message: `${from ? `${path} (from ${from})` : path}: the key ${JSON.stringify(e.propertyName)} must be ${expected(root, node)}.${rule(node)}` };
  }
  const path = formatPath(segs, doc);
  const node = e.parentSchema as Node;
  const from = prov.fromFlag(path);
  const label = from ? `${path} (from ${from})` : path;
  const value = e.data;
  const reason = node['x-reason'] ? ` ${node['x-reason']}` : '';
  const typeHint = e.keyword === 'type' && node.type === 'string' && node['x-expected'] ? ' (a JSON string)' : '';
  return { path, message: `${label} must be ${expected(root, node)}${typeHint}, not ${actual(root, node, value)}.${e.keyword === 'pattern' ? rule(node) : ''}${reason}` };
}

function rule(node: Node): string {
  return node.patternErrorMessage ? ` ${node.patternErrorMessage}` : '';
}

function resolve(root: Node, node: Node): Node {
  let n = node;
  for (let i = 0; n.$ref && i < 10; i++) {
    const ref = n.$ref;
    const target = ref.startsWith('#/definitions/') ? root.definitions?.[ref.slice('#/definitions/'.length)] : undefined;
    if (!target) break;
    n = { ...target, ...Object.fromEntries(Object.entries(n).filter(([k]) => k !== '$ref' && k !== 'description')) };
  }
  return n;
}

/** What a schema node accepts, in words. */
function expected(root: Node, raw: Node): string {
  const node = resolve(root, raw);
  if (node['x-expected']) return node['x-expected'];
  if ('const' in node) return typeof node.const === 'number' ? `the number ${String(node.const)}` : JSON.stringify(node.const);
  if (node.enum) return node.enum.length === 2 ? `${JSON.stringify(node.enum[0])} or ${JSON.stringify(node.enum[1])}` : `one of ${node.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if (node.anyOf) return node.anyOf.map((n) => expected(root, n)).join(' or ');
  switch (node.type) {
    case 'integer':
      return `a whole number${range(node)}`;
    case 'number':
      return `a number${range(node)}`;
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object':
      return 'an object';
    default:
      return 'something else';
  }
}

function range(n: Node): string {
  const f = (v: number): string => v.toLocaleString('en-US');
  if (n.minimum !== undefined && n.maximum !== undefined) return ` from ${f(n.minimum)} to ${f(n.maximum)}`;
  if (n.exclusiveMinimum !== undefined) return ` above ${f(n.exclusiveMinimum)}`;
  if (n.minimum !== undefined) return ` of at least ${f(n.minimum)}`;
  if (n.maximum !== undefined) return ` of at most ${f(n.maximum)}`;
  return '';
}

/** JSON types a node accepts ('number' covers integers). */
function acceptedTypes(root: Node, raw: Node): Set<string> {
  const node = resolve(root, raw);
  const out = new Set<string>();
  if ('const' in node) out.add(jsonType(node.const));
  for (const v of node.enum ?? []) out.add(jsonType(v));
  for (const b of node.anyOf ?? []) for (const t of acceptedTypes(root, b)) out.add(t);
  if (node.type) out.add(node.type === 'integer' ? 'number' : node.type);
  return out;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** The value as the user wrote it; with its type named when the type is what is wrong. */
function actual(root: Node, node: Node, v: unknown): string {
  const t = jsonType(v);
  const shown = show(v);
  if (acceptedTypes(root, node).has(t)) return shown;
  switch (t) {
    case 'string':
      return `the string ${shown}`;
    case 'number':
      return `the number ${shown}`;
    case 'boolean':
      return `the boolean ${shown}`;
    case 'null':
      return 'null';
    case 'array':
      return `the list ${shown}`;
    default:
      return `the object ${shown}`;
  }
}

export function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

function pointer(p: string): string[] {
  return p === '' ? [] : p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const PLAIN = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `pacing.maxConcurrency`, `source.columns[2]`, `target.mapping["Name__c\" OR"]`. */
export function formatPath(segs: string[], doc: unknown): string {
  let out = '';
  let cur: unknown = doc;
  for (const s of segs) {
    if (Array.isArray(cur)) out += `[${s}]`;
    else if (PLAIN.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
    cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[s] : undefined;
  }
  return out;
}

/** Every dotted path of a named setting in the schema (source.keyColumn, pacing.rowsPerJob, …). */
function allPaths(root: Node): string[] {
  const out: string[] = [];
  const walk = (raw: Node, prefix: string, depth: number): void => {
    const node = resolve(root, raw);
    for (const [k, child] of Object.entries(node.properties ?? {})) {
      if (k === '$schema') continue;
      const p = prefix ? `${prefix}.${k}` : k;
      out.push(p);
      if (depth < 4) walk(child, p, depth + 1);
    }
  };
  walk(root, '', 0);
  return out;
}

/**
 * The candidate closest to `name`: same letters in another case, a prefix (delay →
 * delaySeconds), or within a small edit distance (maxConcurrncy → maxConcurrency).
 */
export function nearest(name: string, candidates: string[], key: (c: string) => string = (c) => c): string | undefined {
  const n = name.toLowerCase();
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const k = key(c).toLowerCase();
    let d = distance(n, k);
    if (d > 0 && n.length >= 4 && (k.startsWith(n) || n.startsWith(k))) d = Math.min(d, 1);
    if (!best || d < best.d) best = { c, d };
  }
  if (!best) return undefined;
  return best.d <= Math.max(1, Math.floor(n.length / 4)) ? best.c : undefined;
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
