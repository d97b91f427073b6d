/*
 * Tokenizer and recursive-descent parser of the emulator's Data 360 SQL subset (the grammar
 * is listed in sql.ts). Produces a small AST; nothing is evaluated here. Anything outside the
 * subset is a SqlError (HTTP 400) that names what is not supported.
 */
import { HttpError } from '../http.js';
import type { Value } from './table.js';

export class SqlError extends HttpError {
  public constructor(message: string, errorCode = 'MALFORMED_QUERY') {
    super(400, errorCode, message);
  }
}

/* ------------------------------------------------------------------ tokens */

type Tok =
  | { k: 'id'; v: string; quoted: boolean; pos: number }
  | { k: 'str'; v: string; pos: number }
  | { k: 'num'; v: number; text: string; pos: number }
  | { k: 'param'; v: string; pos: number }
  | { k: 'op'; v: string; pos: number }
  | { k: 'eof'; pos: number };

const OPS = ['<>', '!=', '<=', '>=', '=', '<', '>', '(', ')', ',', '*', '-', '.'];

function readQuoted(sql: string, i: number, q: string, what: string): { v: string; end: number } {
  let v = '';
  let j = i + 1;
  for (;;) {
    if (j >= sql.length) throw new SqlError(`Unterminated ${what} starting at position ${i + 1}.`);
    if (sql[j] === q) {
      if (sql[j + 1] === q) {
        v += q;
        j += 2;
        continue;
      }
      return { v, end: j + 1 };
    }
    v += sql[j++];
  }
}

export function tokenize(sql: string): Tok[] {
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
    if ((c === '-' && sql[i + 1] === '-') || (c === '/' && sql[i + 1] === '*')) throw new SqlError(`Comments are not supported (position ${i + 1}).`);
    if (c === "'") {
      const { v, end } = readQuoted(sql, i, "'", 'string literal');
      out.push({ k: 'str', v, pos: i });
      i = end;
      continue;
    }
    if (c === '"') {
      const { v, end } = readQuoted(sql, i, '"', 'quoted identifier');
      if (v === '') throw new SqlError(`Empty quoted identifier at position ${i + 1}.`);
      out.push({ k: 'id', v, quoted: true, pos: i });
      i = end;
      continue;
    }
    if ((c >= '0' && c <= '9') || (c === '.' && sql[i + 1] >= '0' && sql[i + 1] <= '9')) {
      const m = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(sql.slice(i, i + 400))!;
      out.push({ k: 'num', v: Number(m[0]), text: m[0], pos: i });
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

export type ColRef = { t: 'col'; name: string; quoted: boolean; pos: number };
/** A value computed per row: a column, or LOWER/UPPER of one. */
export type Scalar = ColRef | { t: 'fn'; fn: 'lower' | 'upper'; arg: Scalar };
/** COUNT(*) (arg undefined), COUNT(x) (non-null x), COUNT(DISTINCT x). */
export type Agg = { t: 'agg'; arg?: Scalar; distinct: boolean };
/** A literal keeps its source text so that numbers beyond 2^53 stay exact. */
export type Lit = { t: 'lit'; v: Value; text?: string };
export type Operand = Scalar | Lit | { t: 'param'; name: string } | Agg;
export type CmpOp = '=' | '<>' | '<' | '<=' | '>' | '>=';

export type Expr =
  | { t: 'and' | 'or'; items: Expr[] }
  | { t: 'not'; e: Expr }
  | { t: 'cmp'; op: CmpOp; l: Operand; r: Operand }
  | { t: 'in'; l: Operand; list: Operand[]; neg: boolean }
  | { t: 'isnull'; l: Operand; neg: boolean }
  | { t: 'truth'; l: Operand };

export type SelectItem = { t: 'star' } | { t: 'expr'; e: Scalar; alias?: string } | { t: 'agg'; agg: Agg; alias?: string };
export type OrderItem = { e: Scalar | Agg; desc: boolean; nullsFirst: boolean };

export type Query = {
  items: SelectItem[];
  table: { name: string; quoted: boolean };
  where?: Expr;
  groupBy: Scalar[];
  having?: Expr;
  orderBy: OrderItem[];
  limit?: number;
  offset: number;
};

/** Structural identity of a scalar or aggregate (for GROUP BY matching and caches). */
export function exprKey(e: Scalar | Agg, resolve: (c: ColRef) => string): string {
  if (e.t === 'col') return `c:${resolve(e)}`;
  if (e.t === 'fn') return `${e.fn}(${exprKey(e.arg, resolve)})`;
  return `count(${e.distinct ? 'distinct ' : ''}${e.arg ? exprKey(e.arg, resolve) : '*'})`;
}

const RESERVED = new Set([
  'select', 'from', 'where', 'and', 'or', 'not', 'in', 'is', 'null', 'order', 'by', 'asc', 'desc', 'limit', 'offset',
  'group', 'having', 'as', 'join', 'inner', 'left', 'right', 'full', 'outer', 'cross', 'on', 'union', 'distinct',
  'true', 'false', 'nulls', 'first', 'last', 'like', 'between', 'case', 'when', 'then', 'else', 'end', 'with', 'exists',
  'intersect', 'except', 'fetch', 'all', 'any', 'some', 'ilike', 'similar', 'window', 'over',
]);

const FUNCTIONS = 'COUNT, LOWER and UPPER';

class Parser {
  private i = 0;
  /** Whether aggregates are allowed where an operand is parsed (HAVING). */
  private aggOk = false;
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
    if (!this.isKw(kw)) return false;
    this.i++;
    return true;
  }
  private acceptOp(op: string): boolean {
    if (!this.isOp(op)) return false;
    this.i++;
    return true;
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
      case 'num':
        return t.text;
      default:
        return `"${t.v}"`;
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
    if (w === 'like' || w === 'ilike' || w === 'between' || w === 'similar') throw new SqlError(`${w.toUpperCase()} is not supported by the emulator.`);
    if (w === 'fetch') throw new SqlError('FETCH is not supported by the emulator: use LIMIT.');
  }

  /** An identifier (quoted, or bare and not reserved), never a function call. */
  private ident(what: string): ColRef {
    const t = this.tok;
    if (t.k === 'id' && (t.quoted || !RESERVED.has(t.v.toLowerCase()))) {
      this.i++;
      if (this.isOp('.')) throw new SqlError(`Qualified names (${this.describe(t)}.…) are not supported by the emulator: use plain column names.`);
      return { t: 'col', name: t.v, quoted: t.quoted, pos: t.pos };
    }
    this.unsupportedKeyword();
    return this.fail(what);
  }

  private isCall(): boolean {
    return this.tok.k === 'id' && !(this.tok as { quoted: boolean }).quoted && this.isOp('(', this.peek());
  }

  /** A column, LOWER(x)/UPPER(x), or (when `aggOk`) an aggregate. */
  private scalarOrAgg(what: string, aggOk: boolean): Scalar | Agg {
    if (this.isCall()) {
      const name = (this.tok as { v: string }).v;
      const fn = name.toLowerCase();
      if (fn === 'count') {
        if (!aggOk) throw new SqlError(`COUNT() is not allowed here (position ${this.tok.pos + 1}): aggregates belong in the select list, HAVING or ORDER BY of a grouped query.`);
        this.i += 2;
        if (this.acceptOp('*')) {
          this.expectOp(')');
          return { t: 'agg', distinct: false };
        }
        if (this.isKw('all')) this.i++;
        const distinct = this.acceptKw('distinct');
        const arg = this.scalar('a column inside COUNT()');
        this.expectOp(')');
        return { t: 'agg', arg, distinct };
      }
      if (fn === 'lower' || fn === 'upper') {
        this.i += 2;
        const arg = this.scalar(`a column inside ${name.toUpperCase()}()`);
        if (this.isOp(',')) throw new SqlError(`${name.toUpperCase()}() takes one argument.`);
        this.expectOp(')');
        return { t: 'fn', fn, arg };
      }
      throw new SqlError(`Function ${name}() is not supported by the emulator (only ${FUNCTIONS} are).`);
    }
    return this.ident(what);
  }

  private scalar(what: string): Scalar {
    return this.scalarOrAgg(what, false) as Scalar;
  }

  public parseQuery(): Query {
    if (this.isKw('with')) throw new SqlError('WITH (common table expressions) is not supported by the emulator.');
    this.expectKw('select');
    if (this.isKw('distinct') || this.isKw('all')) throw new SqlError(`SELECT ${(this.tok as { v: string }).v.toUpperCase()} is not supported by the emulator.`);
    const items: SelectItem[] = [];
    do items.push(this.selectItem());
    while (this.acceptOp(','));
    if (items.some((x) => x.t === 'star') && items.length > 1) throw new SqlError('"*" cannot be combined with other select items in the emulator.');
    this.expectKw('from');
    if (this.isOp('(')) throw new SqlError('Subqueries are not supported by the emulator.');
    const table = this.ident('a table name');
    if (this.isOp(',')) throw new SqlError('Joins (FROM a, b) are not supported by the emulator: query one object at a time.');
    this.unsupportedKeyword();
    if (this.isKw('as') || (this.tok.k === 'id' && !RESERVED.has(this.tok.v.toLowerCase()))) throw new SqlError('Table aliases are not supported by the emulator.');
    const q: Query = { items, table: { name: table.name, quoted: table.quoted }, groupBy: [], orderBy: [], offset: 0 };
    if (this.acceptKw('where')) q.where = this.expr();
    if (this.acceptKw('group')) {
      this.expectKw('by');
      do {
        if (this.tok.k === 'num') throw new SqlError('GROUP BY <position> is not supported by the emulator: name the column.');
        q.groupBy.push(this.scalar('a column name'));
      } while (this.acceptOp(','));
    }
    if (this.acceptKw('having')) {
      this.aggOk = true;
      q.having = this.expr();
      this.aggOk = false;
    }
    this.unsupportedKeyword();
    if (this.acceptKw('order')) {
      this.expectKw('by');
      do {
        if (this.tok.k === 'num') throw new SqlError('ORDER BY <position> is not supported by the emulator: name the column.');
        const e = this.scalarOrAgg('a column name', true);
        let desc = false;
        if (this.acceptKw('desc')) desc = true;
        else this.acceptKw('asc');
        let nullsFirst = false;
        if (this.acceptKw('nulls')) {
          if (this.acceptKw('first')) nullsFirst = true;
          else this.expectKw('last');
        }
        q.orderBy.push({ e, desc, nullsFirst });
      } while (this.acceptOp(','));
    }
    for (let round = 0; round < 2; round++) {
      if (q.limit === undefined && this.acceptKw('limit')) q.limit = this.count('LIMIT');
      else if (this.acceptKw('offset')) {
        q.offset = this.count('OFFSET');
        if (!this.acceptKw('rows')) this.acceptKw('row');
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
    const t = this.tok;
    if (t.k === 'str' || t.k === 'num') throw new SqlError('Literal values in the select list are not supported by the emulator.');
    if (this.isOp('(')) throw new SqlError('Expressions and subqueries in the select list are not supported by the emulator.');
    const e = this.scalarOrAgg('a column name, *, COUNT(…), LOWER(…) or UPPER(…)', true);
    const alias = this.alias();
    return e.t === 'agg' ? { t: 'agg', agg: e, alias } : { t: 'expr', e, alias };
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
      if (this.isKw('any') || this.isKw('all') || this.isKw('some')) throw new SqlError(`${(this.tok as { v: string }).v.toUpperCase()} is not supported by the emulator.`);
      const r = this.operand();
      return { t: 'cmp', op: (t.v === '!=' ? '<>' : t.v) as CmpOp, l, r };
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
        if (o.t === 'col' || o.t === 'fn' || o.t === 'agg') throw new SqlError('IN (…) takes literal values only in the emulator.');
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
      return { t: 'lit', v: t.v, text: t.text };
    }
    if (t.k === 'op' && t.v === '-' && this.peek().k === 'num') {
      const n = this.peek() as { v: number; text: string };
      this.i += 2;
      return { t: 'lit', v: -n.v, text: `-${n.text}` };
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
      if (w === 'cast' && this.isOp('(', this.peek())) throw new SqlError(`Function CAST() is not supported by the emulator (only ${FUNCTIONS} are).`);
    }
    if (this.isOp('(')) throw new SqlError('Parenthesized expressions and subqueries are not supported as operands by the emulator.');
    return this.scalarOrAgg('a column name or a literal', this.aggOk);
  }
}

export function parseSql(sql: string): Query {
  if (typeof sql !== 'string' || !sql.trim()) throw new SqlError('The query is empty.');
  return new Parser(tokenize(sql)).parseQuery();
}
