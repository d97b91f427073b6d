/*
 * What the Bulk engine does with an upload's rows: resolve header cells to fields (and
 * `Relationship.Field` references), build the lock simulator's input (parents to lock, with
 * the parent field's case rule, and row-rule rejections), and commit processed rows to the
 * target store (upsert by external id, insert, update, delete; parent lookups by the parent
 * field's rule; `bulk.missingParent`).
 */
import type { FieldDef, SObjectDef } from '../config.js';
import { findSObject } from '../org.js';
import { hashUnit } from '../random.js';
import type { Emulator } from '../server.js';
import { own, type TargetTable } from '../store.js';
import { ROW_OK, ROW_REJECTED, type LockSimulator, type SimJob, type SimJobInput } from './lock-model.js';

export function fieldOf(def: SObjectDef, name: string): FieldDef | undefined {
  const n = name.toLowerCase();
  return def.fields.find((f) => f.name.toLowerCase() === n);
}

export type ResolvedColumn = { kind: 'field'; field: FieldDef } | { kind: 'rel'; rel: FieldDef; target: FieldDef; parentObject: string };

/** A header cell: a field of the object, or `Relationship.Field` through a reference field to an external id / idLookup field. */
export function resolveColumn(emu: Emulator, def: SObjectDef, col: string): ResolvedColumn | undefined {
  const dot = col.indexOf('.');
  if (dot < 0) {
    const f = fieldOf(def, col);
    return f ? { kind: 'field', field: f } : undefined;
  }
  const relName = col.slice(0, dot).toLowerCase();
  const targetName = col.slice(dot + 1);
  const rel = def.fields.find((f) => f.type === 'reference' && f.relationshipName?.toLowerCase() === relName);
  if (!rel) return undefined;
  for (const obj of rel.referenceTo ?? []) {
    const odef = findSObject(emu, obj);
    const t = odef ? fieldOf(odef, targetName) : undefined;
    if (t && (t.externalId === true || t.idLookup === true || t.type === 'id')) return { kind: 'rel', rel, target: t, parentObject: odef!.name };
  }
  return undefined;
}

/** Fold a value for matching under a field's rule (text external ids: case-insensitive unless caseSensitive). */
export function foldFor(field: FieldDef | undefined): (v: string) => string {
  return field && field.type !== 'id' && field.type !== 'reference' && field.caseSensitive !== true ? (v) => v.toLowerCase() : (v) => v;
}

export type RowsJob = {
  id: string;
  seq: number;
  object: string;
  operation: string;
  externalIdFieldName?: string;
  extIdx: number;
  idIdx: number;
  header: string[];
};

/** Parents (lock keys) and row-rule rejections of rows [0, count). */
export function buildInput(emu: Emulator, sim: LockSimulator, job: RowsJob, def: SObjectDef, rows: string[][], count: number): SimJobInput {
  const { header } = job;
  const lower = header.map((h) => h.toLowerCase());
  const cfg = emu.config.bulk;
  const parentCols: Array<{ c: number; fold: (v: string) => string }> = [];
  header.forEach((col, i) => {
    const r = resolveColumn(emu, def, col);
    const isParent = cfg.lock.parentColumns
      ? cfg.lock.parentColumns.some((p) => p.toLowerCase() === lower[i])
      : Boolean(r && (r.kind === 'rel' || (r.field.type === 'reference' && r.field.name.toLowerCase() !== 'id')));
    // `ACME-1` and `acme-1` are one parent when the parent's field is case-insensitive.
    if (isParent) parentCols.push({ c: i, fold: r?.kind === 'rel' ? foldFor(r.target) : (v) => v });
  });
  const errors: string[] = [];
  const parentStart = new Int32Array(count + 1);
  const ids: number[] = [];
  // Intern each distinct cell once per job, with a label that does not keep the upload alive.
  const seen = parentCols.map(() => new Map<string, number>());
  for (let r = 0; r < count; r++) {
    parentStart[r] = ids.length;
    for (let k = 0; k < parentCols.length; k++) {
      const { c, fold } = parentCols[k];
      const v = rows[r][c];
      if (v === undefined || v === '' || v === '#N/A') continue;
      let id = seen[k].get(v);
      if (id === undefined) seen[k].set(v, (id = sim.intern(`${lower[c]}\u0000${fold(v)}`, own(v))));
      ids.push(id);
    }
  }
  parentStart[count] = ids.length;

  let rejectError: Int32Array | undefined;
  const rules = cfg.rowRules.filter((rr) => !rr.object || rr.object.toLowerCase() === job.object.toLowerCase());
  if (rules.length > 0) {
    rejectError = new Int32Array(count).fill(-1);
    const keyIdx = job.extIdx >= 0 ? job.extIdx : job.idIdx;
    rules.forEach((rule) => {
      const errIndex = errors.length;
      const tail = rule.fields && rule.fields.length > 0 ? `${rule.fields.join(', ')} --` : '--';
      errors.push(`${rule.code}:${rule.message}:${tail}`);
      const salt = Math.floor(hashUnit(rule.name) * 0x7fffffff);
      const matchCol = rule.match ? lower.indexOf(rule.match.field.toLowerCase()) : -1;
      const re = rule.match ? new RegExp(rule.match.regex) : undefined;
      for (let r = 0; r < count; r++) {
        if (rejectError![r] >= 0) continue;
        const key = keyIdx >= 0 ? rows[r][keyIdx] : `${job.id}:${r}`;
        const draw = rule.perAttempt ? emu.rng.next() : hashUnit(key, salt);
        if (rule.rate !== undefined && !(draw < rule.rate)) continue;
        if (re && !(matchCol >= 0 && re.test(rows[r][matchCol] ?? ''))) continue;
        if (rule.rate === undefined && !re) continue;
        rejectError![r] = errIndex;
      }
    });
  }
  return { seq: job.seq, rowCount: count, parentStart, parentIds: Int32Array.from(ids), rejectError, errors };
}

/** Per job, what committing needs: relationship columns with their parent tables. */
export type CommitPlan = {
  rels: Array<{ c: number; refField: string; targetField: string; parentObject: string }>;
  /** Record id (or external key) of each processed row, written back for results. */
  idSeq: Int32Array;
  created: Uint8Array;
};

export function commitPlan(emu: Emulator, job: RowsJob, def: SObjectDef, rowCount: number): CommitPlan {
  const rels: CommitPlan['rels'] = [];
  job.header.forEach((col, c) => {
    const r = resolveColumn(emu, def, col);
    if (r?.kind === 'rel') rels.push({ c, refField: r.rel.name, targetField: r.target.name, parentObject: r.parentObject });
  });
  return { rels, idSeq: new Int32Array(rowCount), created: new Uint8Array(rowCount) };
}

/**
 * Commit rows [from, to) of a finished chunk to the target store. Rows the store refuses
 * (no external id, unknown Id, a missing parent under `missingParent: 'fail'`) turn into
 * ROW_REJECTED failures.
 */
export function applyRows(emu: Emulator, job: RowsJob, plan: CommitPlan, sj: SimJob, rows: string[][], from: number, to: number, at: number): void {
  const { header } = job;
  const table = emu.target.table(job.object);
  const parents: TargetTable[] = plan.rels.map((rel) => emu.target.table(rel.parentObject));
  const fail = (r: number, error: string): void => {
    sj.outcome[r] = ROW_REJECTED;
    sj.errorOf[r] = sj.input.errors.length;
    sj.input.errors.push(error);
  };
  const missing = emu.config.bulk.missingParent;
  for (let r = from; r < to; r++) {
    const row = rows[r];
    if (sj.outcome[r] !== ROW_OK) {
      if (job.operation === 'upsert') plan.idSeq[r] = table.seqOf(row[job.extIdx]);
      continue;
    }
    let refs: Record<string, string> | undefined;
    let bad: string | undefined;
    for (let k = 0; k < plan.rels.length; k++) {
      const rel = plan.rels[k];
      const v = row[rel.c];
      if (v === undefined || v === '' || v === '#N/A') continue;
      const parentId = parents[k].recordId(v);
      if (parentId) (refs ??= {})[rel.refField] = parentId;
      else if (missing === 'fail') {
        bad = `INVALID_FIELD:Foreign key external ID: ${v} not found for field ${rel.targetField} in entity ${rel.parentObject}:--`;
        break;
      }
    }
    if (bad) {
      fail(r, bad);
      if (job.operation === 'upsert') plan.idSeq[r] = table.seqOf(row[job.extIdx]);
      continue;
    }
    if (job.operation === 'upsert') {
      const key = row[job.extIdx];
      if (!key || key === '#N/A') {
        fail(r, `MISSING_ARGUMENT:${job.externalIdFieldName} not specified:--`);
        continue;
      }
      const res = table.upsertRow(key, header, row, -1, at, refs);
      plan.idSeq[r] = res.seq;
      plan.created[r] = res.created ? 1 : 0;
    } else if (job.operation === 'insert') {
      const key = `${job.id}#${r}`;
      const res = table.upsertRow(key, header, row, -1, at, refs);
      plan.idSeq[r] = res.seq;
      plan.created[r] = 1;
    } else {
      const id = row[job.idIdx];
      const key = emu.target.keyOfId(job.object, id);
      if (key === undefined || !table.has(key)) {
        fail(r, job.operation === 'update' ? 'INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--' : 'ENTITY_IS_DELETED:entity is deleted:--');
        continue;
      }
      if (job.operation === 'update') table.upsertRow(key, header, row, job.idIdx, at, refs);
      else table.delete(key);
    }
  }
}
