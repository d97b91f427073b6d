/*
 * How a run's state is named to people, in one place: the report's badge, the comparison's
 * State column, the progress display's last line and the webhook's text all say the same
 * words ("completed with 123 failed rows", "stopped", "crashed", "in progress").
 */
import type { RunStatus } from '../ledger/status-types.js';
import { int } from './format.js';

/** ok: nothing to do; warn: finished, rows missing; info: live; neutral: paused by someone (resumable); bad: went wrong. */
export type BadgeKind = 'ok' | 'warn' | 'info' | 'neutral' | 'bad';

export type Badge = { label: string; kind: BadgeKind };

export function runBadge(s: Pick<RunStatus, 'state' | 'totals'>): Badge {
  const failed = s.totals.failed;
  const state = s.state as string;
  switch (state) {
    case 'completed':
      return failed > 0 ? { label: `completed with ${int(failed)} failed row${failed === 1 ? '' : 's'}`, kind: 'warn' } : { label: 'completed', kind: 'ok' };
    case 'incomplete': {
      const missing = Math.max(0, s.totals.sourceRows - s.totals.loaded - failed);
      return { label: `incomplete${missing ? `: ${int(missing)} rows missing` : ''}${failed ? `, ${int(failed)} failed` : ''}`, kind: 'warn' };
    }
    case 'running':
      return { label: 'in progress', kind: 'info' };
    case 'stopping':
      return { label: 'stopping', kind: 'info' };
    case 'stopped':
      return { label: 'stopped', kind: 'neutral' };
    case 'cancelled':
      return { label: 'cancelled', kind: 'neutral' };
    case 'planned':
      return { label: 'planned', kind: 'neutral' };
    case 'crashed':
      return { label: 'crashed', kind: 'bad' };
    case 'failed':
      return { label: 'failed', kind: 'bad' };
    default:
      return { label: state, kind: 'neutral' };
  }
}

/** A run that did not reach its end (stopped, cancelled, crashed, failed, planned, in progress): set apart in comparisons. */
export function unfinished(s: Pick<RunStatus, 'state'>): boolean {
  return s.state !== 'completed' && (s.state as string) !== 'incomplete';
}
