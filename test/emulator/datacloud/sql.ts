/*
 * A small Data 360 SQL subset, evaluated over the emulator's tables (row objects or columns,
 * see table.ts). Parsing is in sql-parse.ts, value rules in sql-values.ts, expression
 * compiling in sql-compile.ts, the sorted index in sql-index.ts; execution here.
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
import { exprKey, parseSql, SqlError, type Agg, type OrderItem, type Query, type Scalar } from './sql-parse.js';
import { comparatorFor, formatterFor, kindOf } from './sql-values.js';
import { tableData, type TableData, type Value } from './table.js';
import { Compiler, findColumn, findTable, rowScalar, sameName, type Pred, type Typed } from './sql-compile.js';
import { lowerPosition, sortedIndex, upperPosition, type SortKey } from './sql-index.js';

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
