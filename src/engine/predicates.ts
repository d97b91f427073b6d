/*
 * The WHERE clauses of a partition's pages: the user's filter, the partition's bounds on
 * its column, and the null rules: keyset pages never see a null key or (for parent
 * partitions) a null parent, because a null can never be a cursor. Those rows are read by
 * partitions of their own (PlanPartition.nullKeys / nullParent).
 */
import type { LoadDefinition, LoadPlan, PlanPartition } from '../state/types.js';
import { literalFor, quoteIdent } from '../source/sql.js';

export function where(preds: Array<string | undefined>): string {
  const p = preds.filter((x): x is string => Boolean(x && x.trim()));
  return p.length ? ` WHERE ${p.map((x) => `(${x})`).join(' AND ')}` : '';
}

export function basePredicates(def: LoadDefinition, plan: Pick<LoadPlan, 'keyColumns' | 'partitionColumn' | 'columnTypes'>, part: PlanPartition): string[] {
  const key = quoteIdent(def.source.keyColumn);
  const preds: string[] = [];
  if (def.source.filter) preds.push(def.source.filter);
  if (part.nullKeys) {
    preds.push(`${key} IS NULL`);
    return preds;
  }
  preds.push(`${key} IS NOT NULL`);
  const byParent = plan.keyColumns.length > 1;
  if (byParent) {
    const parent = quoteIdent(plan.partitionColumn);
    if (part.nullParent) {
      preds.push(`${parent} IS NULL`);
      return preds;
    }
    preds.push(`${parent} IS NOT NULL`);
  }
  const col = quoteIdent(plan.partitionColumn);
  const type = plan.columnTypes[plan.partitionColumn];
  if (part.lowerExclusive !== null) preds.push(`${col} > ${literalFor(part.lowerExclusive, type)}`);
  if (part.upperInclusive !== null) preds.push(`${col} <= ${literalFor(part.upperInclusive, type)}`);
  return preds;
}

/** The columns a partition's keyset orders by: (parent, key), or the key alone (key ranges, null parents). */
export function keysetColumns(def: LoadDefinition, plan: Pick<LoadPlan, 'keyColumns'>, part: PlanPartition): string[] {
  return part.nullParent ? [def.source.keyColumn] : plan.keyColumns;
}
