/*
 * A small Data 360 SQL subset, parsed and evaluated over the emulator's in-memory tables.
 *
 *   SELECT * | col [AS a], ... | COUNT(*) [AS a] | col, COUNT(*) ... GROUP BY col
 *   FROM "Table__dlm" | Table__dlm
 *   [WHERE =, <>, !=, <, <=, >, >=, AND, OR, NOT, ( ), IN (...), IS [NOT] NULL]
 *   [GROUP BY col, ...] [ORDER BY col [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]
 *
 * Identifiers: "quoted" (exact, `""` escapes) or bare (case-insensitive). Strings: 'single'
 * quotes with `''` escapes. `:name` placeholders take query-sql `sqlParameters`.
 * Everything else (joins, subqueries, functions other than COUNT, comments, `;`) is a 400
 * that says what is not supported. No eval: a tokenizer, a recursive-descent parser and
 * closures.
 *
 * Keyset pages (`WHERE "k" > 'x' ORDER BY "k" LIMIT n`, also the composite
 * `"p" > 'a' OR ("p" = 'a' AND "k" > 'b')`) are answered from a cached sorted index per
 * (table, ORDER BY) with a binary search to the lower bound of the first ORDER BY column,
 * so each page costs O(log n + page) instead of a sort of the table.
 */
import type { DcTable, DcType } from '../config.js';
import { HttpError } from '../http.js';

type Value = string | number | boolean | null;
type Row = Record<string, Value>;

export type ResultColumn = { name: string; type: DcType };

/** A query result: column schema plus random access to formatted rows. */
export type ResultSet = {
  columns: ResultColumn[];
  length: number;
  /** Rows [from, to) as arrays of wire values (formatted per column type). */
  rows(from: number, to: number): unknown[][];
};

export type SqlParameter = { name?: string; type?: string; value: unknown };

/* ------------------------------------------------------------------ errors */

export class SqlError extends HttpError {
  public constructor(message: string, errorCode = 'MALFORMED_QUERY') {
    super(400, errorCode, message);
  }
}

/* ------------------------------------------------------------------ tokens */

type Tok =
  | { k: 'id'; v: string; quoted: boolean; pos: number }
  | { k: 'str'; v: string; pos: number }
  | { k: 'num'; v: number; pos: number }
  | { k: 'param'; v: string; pos: number }
  | { k: 'op'; v: string; pos: number }
  | { k: 'eof'; pos: number };

const OPS = ['<>', '!=', '<=', '>=', '=', '<', '>', '(', ')', ',', '*', '-', '.'];

function tokenize(sql: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++;
      continue;
    }
    if (c === ';') throw new SqlError(`Semicolons are not allowed (position ${i + 1}): send exactly one statement without a trailing ";".`);
    if ((c === '-' && sql[i + 1] === '-') || (c === '/' && sql[i + 1] === '*')) {
      throw new SqlError(`Comments are not supported (position ${i + 1}).`);
    }
    if (c === "'") {
      let v = '';
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new SqlError(`Unterminated string literal starting at position ${i + 1}.`);
        if (sql[j] === "'") {
          if (sql[j + 1] === "'") {
            v += "'";
            j += 2;
            continue;
          }
          break;
        }
        v += sql[j++];
      }
      out.push({ k: 'str', v, pos: i });
      i = j + 1;
      continue;
    }
    if (c === '"') {
      let v = '';
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new SqlError(`Unterminated quoted identifier starting at position ${i + 1}.`);
        if (sql[j] === '"') {
          if (sql[j + 1] === '"') {
            v += '"';
            j += 2;
            continue;
          }
          break;
        }
        v += sql[j++];
      }
      if (v === '') throw new SqlError(`Empty quoted identifier at position ${i + 1}.`);
      out.push({ k: 'id', v, quoted: true, pos: i });
      i = j + 1;
      continue;
    }
    if ((c >= '0' && c <= '9') || (c === '.' && sql[i + 1] >= '0' && sql[i + 1] <= '9')) {
      const m = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(sql.slice(i, i + 64))!;
      out.push({ k: 'num', v: Number(m[0]), pos: i });
      i += m[0].length;
      if (/[A-Za-z_]/.test(sql[i] ?? '')) throw new SqlError(`Invalid number near position ${i + 1}.`);
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j])) j++;
      out.push({ k: 'id', v: sql.slice(i, j), quoted: false, pos: i });
      i = j;
      continue;
    }
    if (c === ':' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(sql[j])) j++;
      out.push({ k: 'param', v: sql.slice(i + 1, j), pos: i });
      i = j;
      continue;
    }
    const op = OPS.find((o) => sql.startsWith(o, i));
    if (!op) throw new SqlError(`Unexpected character "${c}" at position ${i + 1}.`);
    out.push({ k: 'op', v: op, pos: i });
    i += op.length;
  }
  out.push({ k: 'eof', pos: n });
  return out;
}

/* ------------------------------------------------------------------ AST */

type Operand = { t: 'col'; name: string; quoted: boolean; pos: number } | { t: 'lit'; v: Value } | { t: 'param'; name: string };

type Expr =
  | { t: 'and' | 'or'; items: Expr[] }
  | { t: 'not'; e: Expr }
  | { t: 'cmp'; op: '=' | '<>' | '<' | '<=' | '>' | '>='; l: Operand; r: Operand }
  | { t: 'in'; l: Operand; list: Operand[]; neg: boolean }
  | { t: 'isnull'; l: Operand; neg: boolean }
  | { t: 'truth'; l: Operand };

type SelectItem = { t: 'star' } | { t: 'col'; name: string; quoted: boolean; alias?: string } | { t: 'count'; alias?: string };

type OrderItem = { name: string; quoted: boolean; desc: boolean; nullsFirst: boolean };

type Query = {
  items: SelectItem[];
  table: { name: string; quoted: boolean };
  where?: Expr;
  groupBy: Array<{ name: string; quoted: boolean }>;
  orderBy: OrderItem[];
  limit?: number;
  offset: number;
};

const RESERVED = new Set([
  'select', 'from', 'where', 'and', 'or', 'not', 'in', 'is', 'null', 'order', 'by', 'asc', 'desc', 'limit', 'offset',
  'group', 'having', 'as', 'join', 'inner', 'left', 'right', 'full', 'outer', 'cross', 'on', 'union', 'distinct',
  'true', 'false', 'nulls', 'first', 'last', 'like', 'between', 'case', 'when', 'then', 'else', 'end', 'with', 'exists',
  'intersect', 'except', 'fetch', 'all', 'any', 'some', 'ilike', 'similar', 'window', 'over',
]);

class Parser {
  private i = 0;
  public constructor(private readonly toks: Tok[]) {}

  private get tok(): Tok {
    return this.toks[this.i];
  }
  private peek(d = 1): Tok {
    return this.toks[Math.min(this.i + d, this.toks.length - 1)];
  }
  private isKw(kw: string, t: Tok = this.tok): boolean {
    return t.k === 'id' && !t.quoted && t.v.toLowerCase() === kw;
  }
  private isOp(op: string, t: Tok = this.tok): boolean {
    return t.k === 'op' && t.v === op;
  }
  private acceptKw(kw: string): boolean {
    if (this.isKw(kw)) {
      this.i++;
      return true;
    }
    return false;
  }
  private acceptOp(op: string): boolean {
    if (this.isOp(op)) {
      this.i++;
      return true;
    }
    return false;
  }
  private describe(t: Tok = this.tok): string {
    switch (t.k) {
      case 'eof':
        return 'end of query';
      case 'id':
        return t.quoted ? `"${t.v}"` : t.v;
      case 'str':
        return `'${t.v}'`;
      case 'param':
        return `:${t.v}`;
      default:
        return `"${String(t.v)}"`;
    }
  }
  private fail(expected: string): never {
    throw new SqlError(`Syntax error at position ${this.tok.pos + 1}: expected ${expected} but found ${this.describe()}.`);
  }
  private expectKw(kw: string): void {
    if (!this.acceptKw(kw)) this.fail(kw.toUpperCase());
  }
  private expectOp(op: string): void {
    if (!this.acceptOp(op)) this.fail(`"${op}"`);
  }

  private unsupportedKeyword(): void {
    const t = this.tok;
    if (t.k !== 'id' || t.quoted) return;
    const w = t.v.toLowerCase();
    if (['join', 'inner', 'left', 'right', 'full', 'cross', 'natural'].includes(w)) throw new SqlError('JOIN is not supported by the emulator: query one object at a time.');
    if (w === 'union' || w === 'intersect' || w === 'except') throw new SqlError(`${w.toUpperCase()} is not supported by the emulator.`);
    if (w === 'having') throw new SqlError('HAVING is not supported by the emulator.');
    if (w === 'like' || w === 'ilike' || w === 'between' || w === 'similar') throw new SqlError(`${w.toUpperCase()} is not supported by the emulator.`);
    if (w === 'fetch') throw new SqlError('FETCH is not supported by the emulator: use LIMIT.');
  }

  /** An identifier (quoted, or bare and not reserved). */
  private ident(what: string): { name: string; quoted: boolean; pos: number } {
    const t = this.tok;
    if (t.k === 'id' && (t.quoted || !RESERVED.has(t.v.toLowerCase()))) {
      this.i++;
      if (this.isOp('.')) throw new SqlError(`Qualified names (${this.describe(t)}.…) are not supported by the emulator: use plain column names.`);
      if (this.isOp('(')) throw new SqlError(`Function ${t.v}() is not supported by the emulator (only COUNT(*) is).`);
      return { name: t.v, quoted: t.quoted, pos: t.pos };
    }
    this.unsupportedKeyword();
    return this.fail(what);
  }

  public parseQuery(): Query {
    if (this.isKw('with')) throw new SqlError('WITH (common table expressions) is not supported by the emulator.');
    this.expectKw('select');
    if (this.isKw('distinct') || this.isKw('all')) throw new SqlError(`SELECT ${this.tok.k === 'id' ? this.tok.v.toUpperCase() : ''} is not supported by the emulator.`);
    const items: SelectItem[] = [];
    do items.push(this.selectItem());
    while (this.acceptOp(','));
    if (items.some((x) => x.t === 'star') && items.length > 1) throw new SqlError('"*" cannot be combined with other select items in the emulator.');
    this.expectKw('from');
    if (this.isOp('(')) throw new SqlError('Subqueries are not supported by the emulator.');
    const table = this.ident('a table name');
    if (this.isOp(',')) throw new SqlError('Joins (FROM a, b) are not supported by the emulator: query one object at a time.');
    this.unsupportedKeyword();
    if (this.isKw('as') || (this.tok.k === 'id' && !RESERVED.has(this.tok.v.toLowerCase()))) {
      throw new SqlError('Table aliases are not supported by the emulator.');
    }
    const q: Query = { items, table: { name: table.name, quoted: table.quoted }, groupBy: [], orderBy: [], offset: 0 };
    if (this.acceptKw('where')) q.where = this.expr();
    if (this.acceptKw('group')) {
      this.expectKw('by');
      do {
        const c = this.ident('a column name');
        q.groupBy.push({ name: c.name, quoted: c.quoted });
      } while (this.acceptOp(','));
    }
    this.unsupportedKeyword();
    if (this.acceptKw('order')) {
      this.expectKw('by');
      do {
        if (this.tok.k === 'num') throw new SqlError('ORDER BY <position> is not supported by the emulator: name the column.');
        const c = this.ident('a column name');
        let desc = false;
        if (this.acceptKw('desc')) desc = true;
        else this.acceptKw('asc');
        let nullsFirst = false;
        if (this.acceptKw('nulls')) {
          if (this.acceptKw('first')) nullsFirst = true;
          else this.expectKw('last');
        }
        q.orderBy.push({ name: c.name, quoted: c.quoted, desc, nullsFirst });
      } while (this.acceptOp(','));
    }
    for (let round = 0; round < 2; round++) {
      if (q.limit === undefined && this.acceptKw('limit')) q.limit = this.count('LIMIT');
      else if (this.acceptKw('offset')) {
        q.offset = this.count('OFFSET');
        if (this.acceptKw('rows') || this.acceptKw('row')) {
          /* OFFSET n ROWS */
        }
      }
    }
    this.unsupportedKeyword();
    if (this.tok.k !== 'eof') this.fail('end of query');
    return q;
  }

  private count(what: string): number {
    const t = this.tok;
    if (t.k !== 'num' || !Number.isInteger(t.v) || t.v < 0) this.fail(`a non-negative integer after ${what}`);
    this.i++;
    return (t as { v: number }).v;
  }

  private selectItem(): SelectItem {
    if (this.acceptOp('*')) return { t: 'star' };
    if (this.isKw('count') && this.isOp('(', this.peek())) {
      this.i += 2;
      if (!this.acceptOp('*')) throw new SqlError('Only COUNT(*) is supported by the emulator.');
      this.expectOp(')');
      return { t: 'count', alias: this.alias() };
    }
    const t = this.tok;
    if (t.k === 'id' && !t.quoted && this.isOp('(', this.peek())) throw new SqlError(`Function ${t.v}() is not supported by the emulator (only COUNT(*) is).`);
    if (t.k === 'str' || t.k === 'num') throw new SqlError('Literal values in the select list are not supported by the emulator.');
    if (this.isOp('(')) throw new SqlError('Expressions and subqueries in the select list are not supported by the emulator.');
    const c = this.ident('a column name, * or COUNT(*)');
    return { t: 'col', name: c.name, quoted: c.quoted, alias: this.alias() };
  }

  private alias(): string | undefined {
    if (!this.acceptKw('as')) return undefined;
    return this.ident('an alias').name;
  }

  private expr(): Expr {
    const items = [this.andExpr()];
    while (this.acceptKw('or')) items.push(this.andExpr());
    return items.length === 1 ? items[0] : { t: 'or', items };
  }

  private andExpr(): Expr {
    const items = [this.notExpr()];
    while (this.acceptKw('and')) items.push(this.notExpr());
    return items.length === 1 ? items[0] : { t: 'and', items };
  }

  private notExpr(): Expr {
    if (this.acceptKw('not')) return { t: 'not', e: this.notExpr() };
    return this.predicate();
  }

  private predicate(): Expr {
    if (this.isOp('(')) {
      if (this.isKw('select', this.peek())) throw new SqlError('Subqueries are not supported by the emulator.');
      this.i++;
      const e = this.expr();
      if (this.isOp(',')) throw new SqlError('Row-value comparisons like ("a", "b") > (…) are not supported by the emulator: write them with AND/OR.');
      this.expectOp(')');
      return e;
    }
    if (this.isKw('exists')) throw new SqlError('EXISTS (subqueries) is not supported by the emulator.');
    const l = this.operand();
    const t = this.tok;
    if (t.k === 'op' && ['=', '<>', '!=', '<', '<=', '>', '>='].includes(t.v)) {
      this.i++;
      if (this.isKw('any') || this.isKw('all') || this.isKw('some')) throw new SqlError(`${this.tok.k === 'id' ? this.tok.v.toUpperCase() : ''} is not supported by the emulator.`);
      const r = this.operand();
      return { t: 'cmp', op: (t.v === '!=' ? '<>' : t.v) as '=', l, r };
    }
    if (this.isKw('is')) {
      this.i++;
      const neg = this.acceptKw('not');
      if (this.isKw('distinct')) throw new SqlError('IS [NOT] DISTINCT FROM is not supported by the emulator.');
      this.expectKw('null');
      return { t: 'isnull', l, neg };
    }
    let neg = false;
    if (this.isKw('not') && (this.isKw('in', this.peek()) || this.isKw('like', this.peek()) || this.isKw('between', this.peek()))) {
      this.i++;
      neg = true;
    }
    if (this.acceptKw('in')) {
      this.expectOp('(');
      if (this.isKw('select')) throw new SqlError('Subqueries are not supported by the emulator.');
      const list: Operand[] = [];
      do {
        const o = this.operand();
        if (o.t === 'col') throw new SqlError('IN (…) takes literal values only in the emulator.');
        list.push(o);
      } while (this.acceptOp(','));
      this.expectOp(')');
      return { t: 'in', l, list, neg };
    }
    this.unsupportedKeyword();
    if (l.t === 'col') return { t: 'truth', l };
    return this.fail('a comparison operator, IN or IS');
  }

  private operand(): Operand {
    const t = this.tok;
    if (t.k === 'str') {
      this.i++;
      return { t: 'lit', v: t.v };
    }
    if (t.k === 'num') {
      this.i++;
      return { t: 'lit', v: t.v };
    }
    if (t.k === 'op' && t.v === '-' && this.peek().k === 'num') {
      this.i += 2;
      return { t: 'lit', v: -(this.toks[this.i - 1] as { v: number }).v };
    }
    if (t.k === 'param') {
      this.i++;
      return { t: 'param', name: t.v };
    }
    if (t.k === 'id' && !t.quoted) {
      const w = t.v.toLowerCase();
      if (w === 'null') {
        this.i++;
        return { t: 'lit', v: null };
      }
      if (w === 'true' || w === 'false') {
        this.i++;
        return { t: 'lit', v: w === 'true' };
      }
      if (['date', 'timestamp', 'time', 'interval'].includes(w) && this.peek().k === 'str') {
        // DATE '2024-01-01' / TIMESTAMP '2024-01-01 00:00:00': typed literals compare as text here.
        this.i++;
        return this.operand();
      }
      if (w === 'case') throw new SqlError('CASE expressions are not supported by the emulator.');
      if (w === 'cast') throw new SqlError('Function CAST() is not supported by the emulator (only COUNT(*) is).');
    }
    if (this.isOp('(')) throw new SqlError('Parenthesized expressions and subqueries are not supported as operands by the emulator.');
    const c = this.ident('a column name or a literal');
    return { t: 'col', ...c };
  }
}

export function parseSql(sql: string): Query {
  if (typeof sql !== 'string' || !sql.trim()) throw new SqlError('The query is empty.');
  return new Parser(tokenize(sql)).parseQuery();
}

/* ------------------------------------------------------------------ values */

/** Code-point comparison of two strings (like a C/binary collation of UTF-8). */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      // UTF-16 → code point order: surrogates (astral) sort above U+E000..U+FFFF.
      if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      return x - y;
    }
  }
  return a.length - b.length;
}

/** Compare two non-null values: numbers numerically, strings by code point, booleans false < true. */
function cmpValues(a: Exclude<Value, null>, b: Exclude<Value, null>): number {
  const ta = typeof a;
  if (ta === typeof b) {
    if (ta === 'string') return compareText(a as string, b as string);
    if (ta === 'number') return (a as number) - (b as number);
    return Number(a) - Number(b);
  }
  // Mixed types inside one column: numbers < booleans < strings (only reachable with odd test data).
  const rank = (v: unknown): number => (typeof v === 'number' ? 0 : typeof v === 'boolean' ? 1 : 2);
  return rank(a) - rank(b);
}

const NUMERIC: ReadonlySet<DcType> = new Set(['Numeric', 'Double', 'Integer', 'BigInt']);
const TEXTUAL: ReadonlySet<DcType> = new Set(['Varchar', 'Date', 'Timestamp', 'TimestampTZ']);

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** 2024-01-01 00:00:00.000 UTC */
export function formatTimestamp(v: Value): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? UTC$/.test(v)) return v;
  const d = new Date(typeof v === 'number' ? v : String(v));
  if (Number.isNaN(d.getTime())) return String(v);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)} UTC`;
}

/** YYYY-MM-DD */
export function formatDate(v: Value): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}/.test(v)) return v.slice(0, 10);
  const d = new Date(typeof v === 'number' ? v : String(v));
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toISOString().slice(0, 10);
}

/** The wire form of a stored value for a column type. */
export function formatterFor(type: DcType): (v: Value | undefined) => unknown {
  switch (type) {
    case 'Varchar':
      return (v) => (v === null || v === undefined ? null : typeof v === 'string' ? v : String(v));
    case 'Numeric':
    case 'Double':
    case 'Integer':
    case 'BigInt':
      return (v) => (v === null || v === undefined || v === '' ? null : typeof v === 'number' ? v : Number(v));
    case 'Bool':
      return (v) => (v === null || v === undefined ? null : typeof v === 'boolean' ? v : v === 'true' || v === 1);
    case 'Date':
      return (v) => formatDate(v ?? null);
    case 'Timestamp':
    case 'TimestampTZ':
      return (v) => formatTimestamp(v ?? null);
    default:
      return (v) => v ?? null;
  }
}

/* ------------------------------------------------------------------ compile */

type Pred = (row: Row) => boolean | null;
type Getter = (row: Row) => Value;

type Bound = { v: Value; incl: boolean };

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

function paramValue(name: string, params: SqlParameter[] | undefined): Value {
  const p = params?.find((x) => x.name === name);
  if (!p) throw new SqlError(`No value for the SQL parameter :${name} (send it in sqlParameters).`, 'INVALID_INPUT');
  const v = p.value;
  if (v === null || v === undefined) return null;
  const type = (p.type ?? 'Varchar').toLowerCase();
  if (['numeric', 'double', 'integer', 'bigint', 'smallint', 'float', 'decimal'].includes(type)) {
    const num = typeof v === 'number' ? v : Number(v);
    if (!Number.isFinite(num)) throw new SqlError(`SQL parameter :${name} of type ${p.type} is not a number.`, 'INVALID_INPUT');
    return num;
  }
  if (type === 'bool' || type === 'boolean') return v === true || v === 'true';
  if (typeof v === 'object') throw new SqlError(`SQL parameter :${name} must be a scalar.`, 'INVALID_INPUT');
  return String(v as string | number | boolean);
}

class Compiler {
  public constructor(private readonly table: DcTable, private readonly params: SqlParameter[] | undefined) {}

  private literal(o: Operand): Value | undefined {
    if (o.t === 'lit') return o.v;
    if (o.t === 'param') return paramValue(o.name, this.params);
    return undefined;
  }

  /** Coerce a literal to the column's type, or refuse an impossible comparison. */
  private coerce(v: Value, col: { name: string; type: DcType }): Value {
    if (v === null) return null;
    if (NUMERIC.has(col.type)) {
      if (typeof v === 'number') return v;
      const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!Number.isFinite(n)) throw new SqlError(`Cannot compare numeric column "${col.name}" with ${JSON.stringify(v)}.`);
      return n;
    }
    if (TEXTUAL.has(col.type)) {
      if (typeof v !== 'string') throw new SqlError(`Cannot compare ${col.type} column "${col.name}" with ${String(v)}: quote the value as a string literal.`);
      return v;
    }
    if (col.type === 'Bool') {
      if (typeof v === 'boolean') return v;
      if (v === 'true' || v === 'false') return v === 'true';
      throw new SqlError(`Cannot compare Bool column "${col.name}" with ${JSON.stringify(v)}.`);
    }
    return v;
  }

  private getter(o: Operand & { t: 'col' }): { get: Getter; col: { name: string; type: DcType } } {
    const col = findColumn(this.table, o.name, o.quoted);
    const key = col.name;
    return { get: (r) => r[key] ?? null, col };
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
        const g = this.value(e.l);
        return e.neg ? (r) => g(r) !== null : (r) => g(r) === null;
      }
      case 'truth': {
        const { get, col } = this.getter(e.l as Operand & { t: 'col' });
        if (col.type !== 'Bool') throw new SqlError(`Column "${col.name}" is not boolean: write a comparison.`);
        return (r) => {
          const v = get(r);
          return v === null ? null : v === true || v === 'true';
        };
      }
      case 'in': {
        const colInfo = e.l.t === 'col' ? this.getter(e.l) : undefined;
        const g = colInfo?.get ?? this.value(e.l);
        const vals = e.list.map((o) => {
          const v = this.literal(o)!;
          return colInfo ? this.coerce(v, colInfo.col) : v;
        });
        const nonNull = vals.filter((v): v is Exclude<Value, null> => v !== null);
        const hasNull = nonNull.length !== vals.length;
        const set = new Set<unknown>(nonNull);
        const neg = e.neg;
        return (r) => {
          const v = g(r);
          if (v === null) return null;
          if (set.has(v)) return !neg;
          return hasNull ? null : neg;
        };
      }
      case 'cmp': {
        let { l, r, op } = e;
        if (l.t !== 'col' && r.t === 'col') {
          [l, r] = [r, l];
          op = ({ '<': '>', '<=': '>=', '>': '<', '>=': '<=' } as Record<string, typeof op>)[op] ?? op;
        }
        let gl: Getter;
        let gr: Getter;
        if (l.t === 'col' && r.t !== 'col') {
          const { get, col } = this.getter(l);
          const lit = this.coerce(this.literal(r)!, col);
          gl = get;
          gr = () => lit;
        } else {
          gl = this.value(l);
          gr = this.value(r);
        }
        const test = cmpTest(op);
        return (row) => {
          const a = gl(row);
          const b = gr(row);
          if (a === null || b === null) return null;
          return test(cmpValues(a, b));
        };
      }
    }
  }

  private value(o: Operand): Getter {
    if (o.t === 'col') return this.getter(o).get;
    const v = this.literal(o)!;
    return () => v;
  }

  /** Operand is the given column (by resolved name)? */
  private isCol(o: Operand, colName: string): boolean {
    return o.t === 'col' && findColumn(this.table, o.name, o.quoted).name === colName;
  }

  /**
   * A bound implied by the predicate on column `col`: rows where the predicate is true have
   * col > v (or >= v when incl) for 'lower', col < v (<=) for 'upper'. Undefined when none.
   */
  public bound(e: Expr, col: { name: string; type: DcType }, side: 'lower' | 'upper'): Bound | undefined {
    switch (e.t) {
      case 'and': {
        let best: Bound | undefined;
        for (const x of e.items) {
          const b = this.bound(x, col, side);
          if (!b || b.v === null) continue;
          if (!best) best = b;
          else {
            const c = cmpValues(b.v as Exclude<Value, null>, best.v as Exclude<Value, null>);
            const tighter = side === 'lower' ? c > 0 : c < 0;
            if (tighter || (c === 0 && !b.incl)) best = b;
          }
        }
        return best;
      }
      case 'or': {
        let loosest: Bound | undefined;
        for (const x of e.items) {
          const b = this.bound(x, col, side);
          if (!b || b.v === null) return undefined;
          if (!loosest) loosest = b;
          else {
            const c = cmpValues(b.v as Exclude<Value, null>, loosest.v as Exclude<Value, null>);
            const looser = side === 'lower' ? c < 0 : c > 0;
            if (looser || (c === 0 && b.incl)) loosest = b;
          }
        }
        return loosest;
      }
      case 'cmp': {
        let { l, r, op } = e;
        if (l.t !== 'col' && r.t === 'col') {
          [l, r] = [r, l];
          op = ({ '<': '>', '<=': '>=', '>': '<', '>=': '<=' } as Record<string, typeof op>)[op] ?? op;
        }
        if (r.t === 'col' || !this.isCol(l, col.name)) return undefined;
        const v = this.coerce(this.literal(r)!, col);
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

/* ------------------------------------------------------------------ sorted index cache */

type SortKey = Array<{ name: string; desc: boolean; nullsFirst: boolean }>;
type IndexEntry = { rowsRef: Row[]; length: number; idx: Int32Array };

const indexCache = new WeakMap<DcTable, Map<string, IndexEntry>>();

const HIGH_UNITS = /[\ud800-\uffff]/;

/** Row indices of `table` sorted by `keys` (stable), cached until the rows array changes. */
export function sortedIndex(table: DcTable, keys: SortKey): Int32Array {
  let perTable = indexCache.get(table);
  if (!perTable) indexCache.set(table, (perTable = new Map()));
  const cacheKey = JSON.stringify(keys);
  const hit = perTable.get(cacheKey);
  const rows = table.rows as Row[];
  if (hit && hit.rowsRef === rows && hit.length === rows.length) return hit.idx;
  const n = rows.length;
  // Per key: the column's values, and whether native string order equals code-point order
  // (true when every value is a string without UTF-16 units >= U+D800, or null).
  const cols = keys.map((k) => {
    const vals = new Array<Value>(n);
    let plain = true;
    for (let i = 0; i < n; i++) {
      const v = rows[i][k.name] ?? null;
      vals[i] = v;
      if (plain && v !== null && (typeof v !== 'string' || HIGH_UNITS.test(v))) plain = false;
    }
    return { vals, plain, desc: k.desc, nullsFirst: k.nullsFirst };
  });
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((i, j) => {
    for (const c of cols) {
      const x = c.vals[i];
      const y = c.vals[j];
      if (x === y) continue;
      if (x === null) return c.nullsFirst ? -1 : 1;
      if (y === null) return c.nullsFirst ? 1 : -1;
      const r = c.plain ? ((x as string) < (y as string) ? -1 : 1) : cmpValues(x, y);
      if (r !== 0) return c.desc ? -r : r;
    }
    return i - j;
  });
  const idx = Int32Array.from(order);
  perTable.set(cacheKey, { rowsRef: rows, length: n, idx });
  return idx;
}

/** First position in idx whose first-key value satisfies the bound (ASC, nulls last). */
function lowerPosition(rows: Row[], idx: Int32Array, col: string, b: Bound): number {
  let lo = 0;
  let hi = idx.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = rows[idx[mid]][col] ?? null;
    // "before the bound": v < b.v, or v == b.v when exclusive. Nulls sort last: never before.
    const before = v !== null && (b.incl ? cmpValues(v, b.v as Exclude<Value, null>) < 0 : cmpValues(v, b.v as Exclude<Value, null>) <= 0);
    if (before) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First position in idx past the upper bound (ASC, nulls last). */
function upperPosition(rows: Row[], idx: Int32Array, col: string, b: Bound): number {
  let lo = 0;
  let hi = idx.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = rows[idx[mid]][col] ?? null;
    const within = v !== null && (b.incl ? cmpValues(v, b.v as Exclude<Value, null>) <= 0 : cmpValues(v, b.v as Exclude<Value, null>) < 0);
    if (within) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* ------------------------------------------------------------------ execute */

export type ExecStats = { scanned: number; usedIndex: boolean };

/** Parse and run one query. Throws SqlError (HTTP 400) that names what is wrong. */
export function executeSql(tables: Record<string, DcTable>, sql: string, params?: SqlParameter[], stats?: ExecStats): ResultSet {
  const q = parseSql(sql);
  const table = findTable(tables, q.table.name, q.table.quoted);
  const rows = table.rows as Row[];
  const comp = new Compiler(table, params);
  const where = q.where ? comp.pred(q.where) : undefined;
  const st: ExecStats = stats ?? { scanned: 0, usedIndex: false };

  const hasCount = q.items.some((x) => x.t === 'count');
  const grouped = q.groupBy.length > 0 || hasCount;

  if (grouped) return executeGrouped(q, table, rows, where, st);

  // Projection.
  const proj: Array<{ src: string; out: ResultColumn }> = [];
  for (const it of q.items) {
    if (it.t === 'star') for (const c of table.columns) proj.push({ src: c.name, out: { name: c.name, type: c.type } });
    else if (it.t === 'col') {
      const c = findColumn(table, it.name, it.quoted);
      proj.push({ src: c.name, out: { name: it.alias ?? c.name, type: c.type } });
    }
  }
  // ORDER BY resolves select aliases first, then columns of the table.
  const keys: SortKey = q.orderBy.map((o) => {
    const alias = proj.find((p) => (o.quoted ? p.out.name === o.name : p.out.name.toLowerCase() === o.name.toLowerCase()) && p.out.name !== p.src);
    const name = alias ? alias.src : findColumn(table, o.name, o.quoted).name;
    return { name, desc: o.desc, nullsFirst: o.nullsFirst };
  });

  const limit = q.limit ?? Number.POSITIVE_INFINITY;
  const wanted = limit === Number.POSITIVE_INFINITY ? limit : q.offset + limit;
  const picked: number[] = [];

  if (keys.length === 0) {
    for (let i = 0; i < rows.length && picked.length < wanted; i++) {
      st.scanned++;
      if (!where || where(rows[i]) === true) picked.push(i);
    }
  } else {
    const idx = sortedIndex(table, keys);
    let from = 0;
    let to = idx.length;
    const first = keys[0];
    if (q.where && !first.desc && !first.nullsFirst) {
      const col = findColumn(table, first.name, true);
      const lo = comp.bound(q.where, col, 'lower');
      const hi = comp.bound(q.where, col, 'upper');
      if (lo) from = lowerPosition(rows, idx, col.name, lo);
      if (hi) to = upperPosition(rows, idx, col.name, hi);
      st.usedIndex = Boolean(lo || hi);
    }
    for (let p = from; p < to && picked.length < wanted; p++) {
      st.scanned++;
      const i = idx[p];
      if (!where || where(rows[i]) === true) picked.push(i);
    }
  }
  const sel = Int32Array.from(picked.slice(q.offset, q.offset + limit));
  const fmts = proj.map((p) => formatterFor(p.out.type));
  const srcs = proj.map((p) => p.src);
  return {
    columns: proj.map((p) => p.out),
    length: sel.length,
    rows(fromRow, toRow) {
      const out: unknown[][] = [];
      const end = Math.min(toRow, sel.length);
      for (let k = Math.max(0, fromRow); k < end; k++) {
        const r = rows[sel[k]];
        const a = new Array<unknown>(srcs.length);
        for (let c = 0; c < srcs.length; c++) a[c] = fmts[c](r[srcs[c]]);
        out.push(a);
      }
      return out;
    },
  };
}

function executeGrouped(q: Query, table: DcTable, rows: Row[], where: Pred | undefined, st: ExecStats): ResultSet {
  const groupCols = q.groupBy.map((g) => findColumn(table, g.name, g.quoted));
  type Out = { kind: 'col'; col: { name: string; type: DcType }; name: string } | { kind: 'count'; name: string };
  const outs: Out[] = q.items.map((it) => {
    if (it.t === 'star') throw new SqlError('SELECT * cannot be combined with COUNT(*) or GROUP BY.');
    if (it.t === 'count') return { kind: 'count', name: it.alias ?? 'count' };
    const col = findColumn(table, it.name, it.quoted);
    if (!groupCols.some((g) => g.name === col.name)) {
      throw new SqlError(`Column "${col.name}" must appear in the GROUP BY clause or be used in an aggregate function.`);
    }
    return { kind: 'col', col, name: it.alias ?? col.name };
  });

  const groups = new Map<string, { values: Value[]; count: number }>();
  const gnames = groupCols.map((g) => g.name);
  for (let i = 0; i < rows.length; i++) {
    st.scanned++;
    const r = rows[i];
    if (where && where(r) !== true) continue;
    const values = gnames.map((n) => r[n] ?? null);
    const key = gnames.length === 1 ? `${typeof values[0]}:${String(values[0])}` : JSON.stringify(values);
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { values, count: 1 });
  }
  if (gnames.length === 0 && groups.size === 0) groups.set('', { values: [], count: 0 });

  // Materialized rows: stored values for group columns, count last resolved per output.
  const mat = [...groups.values()].map((g) =>
    outs.map((o) => (o.kind === 'count' ? g.count : g.values[gnames.indexOf(o.col.name)]))
  ) as Value[][];

  const sortSpec = q.orderBy.map((o) => {
    let pos = outs.findIndex((x) => (o.quoted ? x.name === o.name : x.name.toLowerCase() === o.name.toLowerCase()));
    if (pos < 0) {
      const col = findColumn(table, o.name, o.quoted);
      pos = outs.findIndex((x) => x.kind === 'col' && x.col.name === col.name);
      if (pos < 0) throw new SqlError(`ORDER BY "${col.name}" must name a selected GROUP BY column or an aggregate alias.`);
    }
    return { pos, desc: o.desc, nullsFirst: o.nullsFirst };
  });
  if (sortSpec.length) {
    mat.sort((a, b) => {
      for (const s of sortSpec) {
        const x = a[s.pos];
        const y = b[s.pos];
        if (x === y) continue;
        if (x === null) return s.nullsFirst ? -1 : 1;
        if (y === null) return s.nullsFirst ? 1 : -1;
        const c = cmpValues(x, y);
        if (c !== 0) return s.desc ? -c : c;
      }
      return 0;
    });
  }
  const limit = q.limit ?? Number.POSITIVE_INFINITY;
  const sel = mat.slice(q.offset, q.offset + limit);
  const columns: ResultColumn[] = outs.map((o) => (o.kind === 'count' ? { name: o.name, type: 'BigInt' } : { name: o.name, type: o.col.type }));
  const fmts = columns.map((c) => formatterFor(c.type));
  return {
    columns,
    length: sel.length,
    rows(from, to) {
      return sel.slice(Math.max(0, from), Math.min(to, sel.length)).map((r) => r.map((v, c) => fmts[c](v)));
    },
  };
}
