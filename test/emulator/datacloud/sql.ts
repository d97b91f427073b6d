/*
 * A small Data 360 SQL subset, evaluated over the emulator's tables (row objects or columns,
 * see table.ts). Parsing is in sql-parse.ts, value rules in sql-values.ts.
 *
 *   SELECT * | item [AS a], ...        item: col | LOWER(col) | UPPER(col)
 *                                            | COUNT(*) | COUNT(col) | COUNT(DISTINCT col)
 *   FROM "Table__dlm" | Table__dlm
 *   [WHERE =, <>, !=, <, <=, >, >=, AND, OR, NOT, ( ), IN (...), IS [NOT] NULL; operands are
 *          columns, LOWER/UPPER(col), literals, :params]
 *   [GROUP BY col | LOWER(col) | UPPER(col), ...] [HAVING <the same predicates over aggregates
 *          and GROUP BY expressions, e.g. COUNT(*) > 1>]
 *   [ORDER BY col | alias | LOWER(col) | UPPER(col) | COUNT(...) [ASC|DESC] [NULLS FIRST|LAST], ...]
 *   [LIMIT n] [OFFSET n]
 *
 * Identifiers: "quoted" (exact, `""` escapes) or bare (case-insensitive). Strings: 'single'
 * quotes with `''` escapes. `:name` placeholders take query-sql `sqlParameters`. Everything
 * else (joins, subqueries, other functions, comments, `;`) is a 400 that says what is not
 * supported. No eval: a tokenizer, a recursive-descent parser and closures over row indices.
 *
 * Keyset pages (`WHERE "k" > 'x' ORDER BY "k" LIMIT n`, also the composite
 * `"p" > 'a' OR ("p" = 'a' AND "k" > 'b')`, with extra AND terms such as `"k" IS NOT NULL`)
 * are answered from a cached sorted index per (table, ORDER BY) with a binary search to the
 * bound of the first ORDER BY column, so each page costs O(log n + page), not a sort.
 */
import type { DcTable, DcType } from '../config.js';
import { exprKey, parseSql, SqlError, type Agg, type ColRef, type Expr, type Operand, type OrderItem, type Query, type Scalar } from './sql-parse.js';
import { coerce, comparatorFor, formatterFor, kindOf, type Kind } from './sql-values.js';
import { DictColumn, tableData, type Column, type TableData, type Value } from './table.js';

export { SqlError, parseSql } from './sql-parse.js';
export { compareText, formatDate, formatTimestamp, formatterFor } from './sql-values.js';

export type ResultColumn = { name: string; type: DcType };

/** A query result: column schema plus random access to formatted rows. */
export type ResultSet = {
  columns: ResultColumn[];
  length: number;
  /** Rows [from, to) as arrays of wire values (formatted per column type). */
  rows(from: number, to: number): unknown[][];
};

export type SqlParameter = { name?: string; type?: string; value: unknown };

export type ExecStats = { scanned: number; usedIndex: boolean };

/** A value per row (or per group) index, with its type; `column` when it is a plain stored column. */
type Typed = { get: (i: number) => Value; type: DcType; kind: Kind; col?: string; column?: Column };

const HIGH = /[\ud800-\uffff]/;

/** The comparator for a typed value against `lit`: native string order when both sides are plain text. */
function comparatorAgainst(t: Typed, lit: Value): (a: Exclude<Value, null>, b: Exclude<Value, null>) => number {
  if (t.kind === 'text' && t.column?.plainText && typeof lit === 'string' && !HIGH.test(lit)) {
    return (a, b) => (a === b ? 0 : (a as string) < (b as string) ? -1 : 1);
  }
  return comparatorFor(t.kind);
}
type Pred = (i: number) => boolean | null;
type Bound = { v: Value; incl: boolean };

/* ------------------------------------------------------------------ names */

function findTable(tables: Record<string, DcTable>, name: string, quoted: boolean): DcTable {
  const all = Object.entries(tables);
  const exact = all.find(([k, t]) => k === name || t.name === name);
  if (exact) return exact[1];
  if (!quoted) {
    const lower = name.toLowerCase();
    const ci = all.find(([k, t]) => k.toLowerCase() === lower || t.name.toLowerCase() === lower);
    if (ci) return ci[1];
  }
  const hint = quoted ? all.find(([, t]) => t.name.toLowerCase() === name.toLowerCase()) : undefined;
  throw new SqlError(`Object "${name}" not found${hint ? ` (did you mean "${hint[1].name}"? quoted names are case-sensitive)` : ''}.`, 'INVALID_TYPE');
}

function findColumn(table: DcTable, name: string, quoted: boolean): { name: string; type: DcType } {
  const exact = table.columns.find((c) => c.name === name);
  if (exact) return exact;
  if (!quoted) {
    const ci = table.columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
    if (ci) return ci;
  }
  const hint = quoted ? table.columns.find((c) => c.name.toLowerCase() === name.toLowerCase()) : undefined;
  throw new SqlError(
    `Column "${name}" not found in object "${table.name}"${hint ? ` (did you mean "${hint.name}"? quoted names are case-sensitive)` : ''}.`,
    'INVALID_FIELD'
  );
}

function sameName(ref: ColRef, name: string): boolean {
  return ref.quoted ? ref.name === name : ref.name.toLowerCase() === name.toLowerCase();
}

function paramValue(name: string, params: SqlParameter[] | undefined): Value {
  const p = params?.find((x) => x.name === name);
  if (!p) throw new SqlError(`No value for the SQL parameter :${name} (send it in sqlParameters).`, 'INVALID_INPUT');
  const v = p.value;
  if (v === null || v === undefined) return null;
  const type = (p.type ?? 'Varchar').toLowerCase();
  if (['numeric', 'double', 'integer', 'bigint', 'smallint', 'float', 'decimal'].includes(type)) {
    const num = typeof v === 'number' ? v : Number(v);
    if (!Number.isFinite(num)) throw new SqlError(`SQL parameter :${name} of type ${p.type} is not a number.`, 'INVALID_INPUT');
    return typeof v === 'string' && !Number.isSafeInteger(num) && /^-?\d+$/.test(v.trim()) ? v.trim() : num;
  }
  if (type === 'bool' || type === 'boolean') return v === true || v === 'true';
  if (typeof v === 'object') throw new SqlError(`SQL parameter :${name} must be a scalar.`, 'INVALID_INPUT');
  return String(v as string | number | boolean);
}

/* ------------------------------------------------------------------ compile */

const FLIP: Record<string, '<' | '<=' | '>' | '>='> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

function cmpTest(op: string): (c: number) => boolean {
  switch (op) {
    case '=':
      return (c) => c === 0;
    case '<>':
      return (c) => c !== 0;
    case '<':
      return (c) => c < 0;
    case '<=':
      return (c) => c <= 0;
    case '>':
      return (c) => c > 0;
    default:
      return (c) => c >= 0;
  }
}

/** Scalars over a table's rows (index i = row). */
function rowScalar(table: DcTable, data: TableData, e: Scalar): Typed {
  if (e.t === 'col') {
    const col = findColumn(table, e.name, e.quoted);
    const c = data.column(col.name);
    return { get: (i) => c.get(i), type: col.type, kind: kindOf(col.type), col: col.name, column: c };
  }
  const arg = rowScalar(table, data, e.arg);
  const f = e.fn === 'lower' ? (s: string): string => s.toLowerCase() : (s: string): string => s.toUpperCase();
  return {
    get: (i) => {
      const v = arg.get(i);
      return v === null ? null : f(typeof v === 'string' ? v : String(v));
    },
    type: 'Varchar',
    kind: 'text',
  };
}

/** Compiles predicates; `resolve` gives a typed getter for a column, function or aggregate. */
class Compiler {
  public constructor(private readonly resolve: (o: Scalar | Agg) => Typed, private readonly params: SqlParameter[] | undefined) {}

  private literal(o: Operand): { v: Value; text?: string } | undefined {
    if (o.t === 'lit') return { v: o.v, text: o.text };
    if (o.t === 'param') return { v: paramValue(o.name, this.params) };
    return undefined;
  }

  private isValue(o: Operand): o is Scalar | Agg {
    return o.t === 'col' || o.t === 'fn' || o.t === 'agg';
  }

  private nameOf(o: Scalar | Agg, t: Typed): string {
    return t.col ?? (o.t === 'fn' ? `${o.fn.toUpperCase()}(…)` : 'COUNT(…)');
  }

  public pred(e: Expr): Pred {
    switch (e.t) {
      case 'and': {
        const ps = e.items.map((x) => this.pred(x));
        return (r) => {
          let res: boolean | null = true;
          for (const p of ps) {
            const v = p(r);
            if (v === false) return false;
            if (v === null) res = null;
          }
          return res;
        };
      }
      case 'or': {
        const ps = e.items.map((x) => this.pred(x));
        return (r) => {
          let res: boolean | null = false;
          for (const p of ps) {
            const v = p(r);
            if (v === true) return true;
            if (v === null) res = null;
          }
          return res;
        };
      }
      case 'not': {
        const p = this.pred(e.e);
        return (r) => {
          const v = p(r);
          return v === null ? null : !v;
        };
      }
      case 'isnull': {
        const g = this.isValue(e.l) ? this.resolve(e.l).get : ((v) => () => v)(this.literal(e.l)!.v);
        return e.neg ? (r) => g(r) !== null : (r) => g(r) === null;
      }
      case 'truth': {
        const t = this.resolve(e.l as Scalar);
        if (t.type !== 'Bool') throw new SqlError(`Column "${t.col ?? '?'}" is not boolean: write a comparison.`);
        return (r) => {
          const v = t.get(r);
          return v === null ? null : v === true || v === 'true';
        };
      }
      case 'in': {
        const t = this.isValue(e.l) ? this.resolve(e.l) : undefined;
        const g = t?.get ?? ((v) => () => v)(this.literal(e.l)!.v);
        const vals = e.list.map((o) => {
          const lit = this.literal(o)!;
          return t ? coerce(lit.v, lit.text, t.kind, t.type, this.nameOf(e.l as Scalar, t)) : lit.v;
        });
        const nonNull = vals.filter((v): v is Exclude<Value, null> => v !== null);
        const hasNull = nonNull.length !== vals.length;
        const neg = e.neg;
        let has: (v: Exclude<Value, null>) => boolean;
        if (t?.kind === 'num') {
          const cmp = comparatorFor('num');
          has = (v) => nonNull.some((x) => cmp(v, x) === 0);
        } else {
          const set = new Set<unknown>(nonNull);
          has = (v) => set.has(v);
        }
        return (r) => {
          const v = g(r);
          if (v === null) return null;
          if (has(v)) return !neg;
          return hasNull ? null : neg;
        };
      }
      case 'cmp': {
        let { l, r, op } = e;
        if (!this.isValue(l) && this.isValue(r)) {
          [l, r] = [r, l];
          op = FLIP[op] ?? op;
        }
        const test = cmpTest(op);
        if (this.isValue(l) && !this.isValue(r)) {
          const t = this.resolve(l);
          const lit = this.literal(r)!;
          const b = coerce(lit.v, lit.text, t.kind, t.type, this.nameOf(l, t));
          const cmp = comparatorAgainst(t, b);
          if (b === null) return () => null;
          return (row) => {
            const a = t.get(row);
            return a === null ? null : test(cmp(a, b));
          };
        }
        if (this.isValue(l) && this.isValue(r)) {
          const tl = this.resolve(l);
          const tr = this.resolve(r);
          const cmp = comparatorFor(tl.kind === tr.kind ? tl.kind : 'text');
          return (row) => {
            const a = tl.get(row);
            const b = tr.get(row);
            return a === null || b === null ? null : test(cmp(a, b));
          };
        }
        const a = this.literal(l)!.v;
        const b = this.literal(r)!.v;
        const kind: Kind = typeof a === 'number' && typeof b === 'number' ? 'num' : 'text';
        const res = a === null || b === null ? null : test(comparatorFor(kind)(a, b));
        return () => res;
      }
    }
  }

  /**
   * A bound implied by the predicate on column `col`: rows where it is true have col > v
   * (>= when incl) for 'lower', col < v (<=) for 'upper'. Undefined when none.
   */
  public bound(e: Expr, col: string, side: 'lower' | 'upper', kind: Kind): Bound | undefined {
    const cmp = comparatorFor(kind);
    switch (e.t) {
      case 'and': {
        let best: Bound | undefined;
        for (const x of e.items) {
          const b = this.bound(x, col, side, kind);
          if (!b || b.v === null) continue;
          if (!best) best = b;
          else {
            const c = cmp(b.v, best.v as Exclude<Value, null>);
            if ((side === 'lower' ? c > 0 : c < 0) || (c === 0 && !b.incl)) best = b;
          }
        }
        return best;
      }
      case 'or': {
        let loosest: Bound | undefined;
        for (const x of e.items) {
          const b = this.bound(x, col, side, kind);
          if (!b || b.v === null) return undefined;
          if (!loosest) loosest = b;
          else {
            const c = cmp(b.v, loosest.v as Exclude<Value, null>);
            if ((side === 'lower' ? c < 0 : c > 0) || (c === 0 && b.incl)) loosest = b;
          }
        }
        return loosest;
      }
      case 'cmp': {
        let { l, r, op } = e;
        if (l.t !== 'col' && r.t === 'col') {
          [l, r] = [r, l];
          op = FLIP[op] ?? op;
        }
        if (l.t !== 'col' || (r.t !== 'lit' && r.t !== 'param')) return undefined;
        const t = this.resolve(l);
        if (t.col !== col) return undefined;
        const lit = this.literal(r)!;
        const v = coerce(lit.v, lit.text, t.kind, t.type, col);
        if (v === null) return undefined;
        if (op === '=') return { v, incl: true };
        if (side === 'lower' && (op === '>' || op === '>=')) return { v, incl: op === '>=' };
        if (side === 'upper' && (op === '<' || op === '<=')) return { v, incl: op === '<=' };
        return undefined;
      }
      default:
        return undefined;
    }
  }
}

/* ------------------------------------------------------------------ sorted index cache */

type SortKey = { t: Typed; desc: boolean; nullsFirst: boolean; id: string };
const indexCache = new WeakMap<object, Map<string, { length: number; idx: Int32Array }>>();
const HIGH_UNITS = /[\ud800-\uffff]/;

/** Row positions sorted by `keys` (stable), cached per storage version and key list. */
function sortedIndex(data: TableData, keys: SortKey[]): Int32Array {
  const version = data.version as object;
  let perTable = indexCache.get(version);
  if (!perTable) indexCache.set(version, (perTable = new Map()));
  const cacheKey = keys.map((k) => `${k.id}:${k.desc ? 'd' : 'a'}${k.nullsFirst ? 'f' : 'l'}`).join('|');
  const hit = perTable.get(cacheKey);
  if (hit && hit.length === data.length) return hit.idx;
  const idx = sortPositions(data.length, keys);
  perTable.set(cacheKey, { length: data.length, idx });
  return idx;
}

/**
 * Positions sorted by the keys, stable (ties keep position order). Least significant key
 * first, each pass stable: a dictionary column is a counting sort on its sorted dictionary's
 * ranks (O(n)); a column already in order along the current order is skipped (generated and
 * often real keys arrive sorted); anything else is a comparison sort on that key alone.
 */
function sortPositions(n: number, keys: SortKey[]): Int32Array {
  let order: Int32Array = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let k = keys.length - 1; k >= 0; k--) {
    const key = keys[k];
    const ranks = dictRanks(key, n);
    if (ranks) {
      order = countingSort(order, ranks.rank, ranks.buckets);
      continue;
    }
    // Already in order along the current order? (Checked without holding every value.)
    const loose = valueOrder(key, false);
    let sorted = true;
    let prev = n > 0 ? key.t.get(order[0]) : null;
    for (let p = 1; p < n; p++) {
      const cur = key.t.get(order[p]);
      if (loose(prev, cur) > 0) {
        sorted = false;
        break;
      }
      prev = cur;
    }
    if (sorted) continue;
    const vals = new Array<Value>(n);
    let plain = key.t.kind === 'text';
    for (let i = 0; i < n; i++) {
      const v = key.t.get(i);
      vals[i] = v;
      if (plain && v !== null && (typeof v !== 'string' || HIGH_UNITS.test(v))) plain = false;
    }
    const cmp = valueOrder(key, plain);
    const arr = Array.from(order);
    arr.sort((a, b) => cmp(vals[a], vals[b]));
    order = Int32Array.from(arr);
  }
  return order;
}

/** Order of two values of one key (nulls first/last, desc), 0 for ties. */
function valueOrder(key: SortKey, plain: boolean): (x: Value, y: Value) => number {
  const cmp = comparatorFor(key.t.kind);
  return (x, y) => {
    if (x === y) return 0;
    if (x === null) return key.nullsFirst ? -1 : 1;
    if (y === null) return key.nullsFirst ? 1 : -1;
    const r = plain ? ((x as string) < (y as string) ? -1 : 1) : cmp(x, y);
    return key.desc ? -r : r;
  };
}

/** Per-row ranks of a dictionary column (ties share a rank), or undefined for other columns. */
function dictRanks(key: SortKey, n: number): { rank: Uint32Array; buckets: number } | undefined {
  const col = key.t.column;
  if (!(col instanceof DictColumn) || col.length !== n) return undefined;
  const dict = col.dict;
  const cmp = valueOrder(key, false);
  const byValue = Array.from(dict.keys()).sort((a, b) => cmp(dict[a], dict[b]));
  const dictRank = new Uint32Array(dict.length);
  let r = 0;
  for (let p = 0; p < byValue.length; p++) {
    if (p > 0 && cmp(dict[byValue[p - 1]], dict[byValue[p]]) !== 0) r++;
    dictRank[byValue[p]] = r;
  }
  const rank = new Uint32Array(n);
  const codes = col.codes;
  for (let i = 0; i < n; i++) rank[i] = dictRank[codes[i]];
  return { rank, buckets: r + 1 };
}

/** Stable counting sort of `order` by rank[order[p]]. */
function countingSort(order: Int32Array, rank: Uint32Array, buckets: number): Int32Array {
  const start = new Uint32Array(buckets + 1);
  for (let p = 0; p < order.length; p++) start[rank[order[p]] + 1]++;
  for (let b = 0; b < buckets; b++) start[b + 1] += start[b];
  const out = new Int32Array(order.length);
  for (let p = 0; p < order.length; p++) out[start[rank[order[p]]]++] = order[p];
  return out;
}

/** First position whose value is not before the bound (ASC, nulls last). */
function lowerPosition(idx: Int32Array, t: Typed, b: Bound): number {
  const cmp = comparatorAgainst(t, b.v);
  let lo = 0;
  let hi = idx.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = t.get(idx[mid]);
    const before = v !== null && (b.incl ? cmp(v, b.v as Exclude<Value, null>) < 0 : cmp(v, b.v as Exclude<Value, null>) <= 0);
    if (before) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First position past the upper bound (ASC, nulls last). */
function upperPosition(idx: Int32Array, t: Typed, b: Bound): number {
  const cmp = comparatorAgainst(t, b.v);
  let lo = 0;
  let hi = idx.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = t.get(idx[mid]);
    const within = v !== null && (b.incl ? cmp(v, b.v as Exclude<Value, null>) <= 0 : cmp(v, b.v as Exclude<Value, null>) < 0);
    if (within) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* ------------------------------------------------------------------ execute */

/** Parse and run one query. Throws SqlError (HTTP 400) that names what is wrong. */
export function executeSql(tables: Record<string, DcTable>, sql: string, params?: SqlParameter[], stats?: ExecStats): ResultSet {
  const q = parseSql(sql);
  const table = findTable(tables, q.table.name, q.table.quoted);
  const data = tableData(table);
  const st: ExecStats = stats ?? { scanned: 0, usedIndex: false };
  const resolveRow = (o: Scalar | Agg): Typed => {
    if (o.t === 'agg') throw new SqlError('Aggregates are not allowed in WHERE: use HAVING.');
    return rowScalar(table, data, o);
  };
  const comp = new Compiler(resolveRow, params);
  const where = q.where ? comp.pred(q.where) : undefined;
  const grouped = q.groupBy.length > 0 || q.having !== undefined || q.items.some((x) => x.t === 'agg');
  if (grouped) return executeGrouped(q, table, data, where, params, st);
  if (q.orderBy.some((o) => o.e.t === 'agg')) throw new SqlError('ORDER BY COUNT(…) needs a grouped query (GROUP BY or an aggregate in the select list).');

  // Projection.
  const proj: Array<{ t: Typed; name: string }> = [];
  for (const it of q.items) {
    if (it.t === 'star') for (const c of table.columns) proj.push({ t: rowScalar(table, data, { t: 'col', name: c.name, quoted: true, pos: 0 }), name: c.name });
    else if (it.t === 'expr') {
      const t = rowScalar(table, data, it.e);
      proj.push({ t, name: it.alias ?? (it.e.t === 'col' ? t.col! : it.e.fn) });
    }
  }
  // ORDER BY resolves select aliases first, then expressions over the table.
  const keyOf = (e: Scalar): string => exprKey(e, (c) => findColumn(table, c.name, c.quoted).name);
  const keys: SortKey[] = q.orderBy.map((o) => {
    const e = o.e as Scalar;
    if (e.t === 'col') {
      const it = q.items.find((x) => x.t === 'expr' && x.alias !== undefined && sameName(e, x.alias)) as { e: Scalar } | undefined;
      if (it) return { t: rowScalar(table, data, it.e), desc: o.desc, nullsFirst: o.nullsFirst, id: keyOf(it.e) };
    }
    return { t: rowScalar(table, data, e), desc: o.desc, nullsFirst: o.nullsFirst, id: keyOf(e) };
  });

  const limit = q.limit ?? Number.POSITIVE_INFINITY;
  const wanted = limit === Number.POSITIVE_INFINITY ? limit : q.offset + limit;
  const picked: number[] = [];
  const n = data.length;
  if (keys.length === 0) {
    for (let i = 0; i < n && picked.length < wanted; i++) {
      st.scanned++;
      if (!where || where(i) === true) picked.push(i);
    }
  } else {
    const idx = sortedIndex(data, keys);
    let from = 0;
    let to = idx.length;
    const first = keys[0];
    if (q.where && !first.desc && !first.nullsFirst && first.t.col !== undefined) {
      const lo = comp.bound(q.where, first.t.col, 'lower', first.t.kind);
      const hi = comp.bound(q.where, first.t.col, 'upper', first.t.kind);
      if (lo) from = lowerPosition(idx, first.t, lo);
      if (hi) to = upperPosition(idx, first.t, hi);
      st.usedIndex = Boolean(lo || hi);
    }
    for (let p = from; p < to && picked.length < wanted; p++) {
      st.scanned++;
      const i = idx[p];
      if (!where || where(i) === true) picked.push(i);
    }
  }
  const sel = Int32Array.from(picked.slice(q.offset, q.offset + limit));
  const fmts = proj.map((p) => formatterFor(p.t.type));
  return {
    columns: proj.map((p) => ({ name: p.name, type: p.t.type })),
    length: sel.length,
    rows(fromRow, toRow) {
      const from = Math.max(0, fromRow);
      const end = Math.min(toRow, sel.length);
      if (end <= from) return [];
      // Column by column: each column class gathers its values in one loop.
      const out: unknown[][] = new Array<unknown[]>(end - from);
      for (let k = 0; k < out.length; k++) out[k] = new Array<unknown>(proj.length);
      proj.forEach((p, c) => {
        const vals = p.t.column ? p.t.column.gather(sel, from, end) : Array.from(sel.subarray(from, end), (i) => p.t.get(i));
        const fmt = fmts[c];
        for (let k = 0; k < vals.length; k++) out[k][c] = fmt(vals[k]);
      });
      return out;
    },
  };
}

/** An aggregate being computed: COUNT(*), COUNT(x) or COUNT(DISTINCT x), per group. */
type AggState = { key: string; arg?: Typed; distinct: boolean; counts: number[]; sets?: Array<Set<unknown>> };

function executeGrouped(q: Query, table: DcTable, data: TableData, where: Pred | undefined, params: SqlParameter[] | undefined, st: ExecStats): ResultSet {
  const keyOf = (e: Scalar | Agg): string => exprKey(e, (c) => findColumn(table, c.name, c.quoted).name);
  const groupExprs = q.groupBy.map((e) => ({ key: keyOf(e), t: rowScalar(table, data, e), e }));
  const aggs: AggState[] = [];
  const aggIndex = (a: Agg): number => {
    const key = keyOf(a);
    let k = aggs.findIndex((x) => x.key === key);
    if (k < 0) {
      aggs.push({ key, arg: a.arg ? rowScalar(table, data, a.arg) : undefined, distinct: a.distinct, counts: [], ...(a.distinct ? { sets: [] } : {}) });
      k = aggs.length - 1;
    }
    return k;
  };
  const groupIndexOf = (e: Scalar): number => {
    const key = keyOf(e);
    const g = groupExprs.findIndex((x) => x.key === key);
    if (g < 0) {
      const shown = e.t === 'col' ? findColumn(table, e.name, e.quoted).name : `${e.fn.toUpperCase()}(…)`;
      throw new SqlError(`Column "${shown}" must appear in the GROUP BY clause or be used in an aggregate function.`);
    }
    return g;
  };

  // Outputs: a GROUP BY expression or an aggregate.
  type Ref = { kind: 'g' | 'a'; k: number };
  const outs: Array<{ name: string; ref: Ref; type: DcType }> = q.items.map((it) => {
    if (it.t === 'star') throw new SqlError('SELECT * cannot be combined with COUNT(*) or GROUP BY.');
    if (it.t === 'agg') return { name: it.alias ?? 'count', ref: { kind: 'a', k: aggIndex(it.agg) }, type: 'BigInt' };
    const g = groupIndexOf(it.e);
    const name = it.alias ?? (it.e.t === 'col' ? groupExprs[g].t.col! : it.e.fn);
    return { name, ref: { kind: 'g', k: g }, type: groupExprs[g].t.type };
  });

  // Group values and counts, group index = position of first appearance.
  const gvals: Value[][] = groupExprs.map(() => []);
  let groups = 0;
  const single = groupExprs.length === 1 ? groupExprs[0].t.get : undefined;
  const map = new Map<unknown, number>();
  // HAVING/ORDER BY may add aggregates: resolve them before scanning.
  const having = q.having;
  const resolveGroup = (o: Scalar | Agg): Typed => {
    if (o.t === 'agg') {
      const k = aggIndex(o);
      return { get: (g) => aggValue(aggs[k], g), type: 'BigInt', kind: 'num' };
    }
    if (o.t === 'col') {
      const out = outs.find((x) => sameName(o, x.name));
      if (out) return refTyped(out.ref, out.type);
    }
    const g = groupIndexOf(o);
    return refTyped({ kind: 'g', k: g }, groupExprs[g].t.type);
  };
  const refTyped = (ref: Ref, type: DcType): Typed =>
    ref.kind === 'a' ? { get: (g) => aggValue(aggs[ref.k], g), type: 'BigInt', kind: 'num' } : { get: (g) => gvals[ref.k][g], type, kind: kindOf(type) };
  const havingPred = having ? new Compiler(resolveGroup, params).pred(having) : undefined;
  const sortSpec = q.orderBy.map((o: OrderItem) => {
    let t: Typed;
    if (o.e.t === 'col') {
      const e = o.e;
      const out = outs.find((x) => sameName(e, x.name));
      if (out) t = refTyped(out.ref, out.type);
      else {
        const col = findColumn(table, e.name, e.quoted);
        const g = groupExprs.findIndex((x) => x.key === `c:${col.name}`);
        if (g < 0) throw new SqlError(`ORDER BY "${col.name}" must name a selected GROUP BY column or an aggregate alias.`);
        t = refTyped({ kind: 'g', k: g }, groupExprs[g].t.type);
      }
    } else t = resolveGroup(o.e);
    return { t, cmp: comparatorFor(t.kind), desc: o.desc, nullsFirst: o.nullsFirst };
  });

  const n = data.length;
  for (let i = 0; i < n; i++) {
    st.scanned++;
    if (where && where(i) !== true) continue;
    let key: unknown;
    if (single) key = single(i);
    else if (groupExprs.length === 0) key = '';
    else key = JSON.stringify(groupExprs.map((x) => x.t.get(i)));
    let g = map.get(key);
    if (g === undefined) {
      g = groups++;
      map.set(key, g);
      if (single) gvals[0].push(key as Value);
      else for (let k = 0; k < groupExprs.length; k++) gvals[k].push(groupExprs[k].t.get(i));
      for (const a of aggs) {
        a.counts.push(0);
        a.sets?.push(new Set());
      }
    }
    for (const a of aggs) {
      if (!a.arg) a.counts[g]++;
      else {
        const v = a.arg.get(i);
        if (v === null) continue;
        if (a.sets) a.sets[g].add(v);
        else a.counts[g]++;
      }
    }
  }
  map.clear();
  if (groupExprs.length === 0 && groups === 0) {
    groups = 1;
    for (const a of aggs) {
      a.counts.push(0);
      a.sets?.push(new Set());
    }
  }

  let sel: number[] = [];
  for (let g = 0; g < groups; g++) if (!havingPred || havingPred(g) === true) sel.push(g);
  if (sortSpec.length) {
    sel.sort((a, b) => {
      for (const s of sortSpec) {
        const x = s.t.get(a);
        const y = s.t.get(b);
        if (x === y) continue;
        if (x === null) return s.nullsFirst ? -1 : 1;
        if (y === null) return s.nullsFirst ? 1 : -1;
        const c = s.cmp(x, y);
        if (c !== 0) return s.desc ? -c : c;
      }
      return a - b;
    });
  }
  const limit = q.limit ?? Number.POSITIVE_INFINITY;
  sel = sel.slice(q.offset, q.offset + limit);
  const columns: ResultColumn[] = outs.map((o) => ({ name: o.name, type: o.type }));
  const fmts = columns.map((c) => formatterFor(c.type));
  const gets = outs.map((o) => refTyped(o.ref, o.type).get);
  return {
    columns,
    length: sel.length,
    rows(from, to) {
      return sel.slice(Math.max(0, from), Math.min(to, sel.length)).map((g) => gets.map((get, c) => fmts[c](get(g))));
    },
  };
}

function aggValue(a: AggState, g: number): number {
  return a.sets ? a.sets[g].size : a.counts[g];
}
