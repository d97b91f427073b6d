/*
 * Compiling the SQL subset's expressions into closures over row (or group) indices: name
 * resolution (quoted exact, bare case-insensitive), :param values, scalars (columns,
 * LOWER/UPPER), predicates in three-valued logic, and the keyset bounds a WHERE implies
 * for the sorted-index fast path. Used by sql.ts.
 */
import type { DcTable, DcType } from '../config.js';
import { SqlError, type Agg, type ColRef, type Expr, type Operand, type Scalar } from './sql-parse.js';
import { coerce, comparatorFor, kindOf, type Kind } from './sql-values.js';
import type { Column, TableData, Value } from './table.js';
import type { SqlParameter } from './sql.js';

/** A value per row (or per group) index, with its type; `column` when it is a plain stored column. */
export type Typed = { get: (i: number) => Value; type: DcType; kind: Kind; col?: string; column?: Column };

const HIGH = /[\ud800-\uffff]/;

/** The comparator for a typed value against `lit`: native string order when both sides are plain text. */
export function comparatorAgainst(t: Typed, lit: Value): (a: Exclude<Value, null>, b: Exclude<Value, null>) => number {
  if (t.kind === 'text' && t.column?.plainText && typeof lit === 'string' && !HIGH.test(lit)) {
    return (a, b) => (a === b ? 0 : (a as string) < (b as string) ? -1 : 1);
  }
  return comparatorFor(t.kind);
}
export type Pred = (i: number) => boolean | null;
export type Bound = { v: Value; incl: boolean };

/* ------------------------------------------------------------------ names */

export function findTable(tables: Record<string, DcTable>, name: string, quoted: boolean): DcTable {
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

export function findColumn(table: DcTable, name: string, quoted: boolean): { name: string; type: DcType } {
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

export function sameName(ref: ColRef, name: string): boolean {
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
export function rowScalar(table: DcTable, data: TableData, e: Scalar): Typed {
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
export class Compiler {
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
