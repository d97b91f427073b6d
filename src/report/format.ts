/*
 * Number, percent, duration and escaping helpers shared by the status and report renderers.
 */

export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A fraction 0..1 as a percent with two decimals ("99.93%"); "—" for null. */
export function percent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '—';
  return `${(fraction * 100).toFixed(2)}%`;
}

/** 7h 5m, 4m 10s, 12s. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** Seconds as the seed wrote settings: 90 → "1.5m", 5400 → "1.5h", 25 → "25s". */
export function span(seconds: number): string {
  if (seconds <= 0) return 'None';
  if (seconds >= 3600) return `${trim(seconds / 3600)}h`;
  if (seconds >= 60) return `${trim(seconds / 60)}m`;
  return `${trim(seconds)}s`;
}

export function delayRange([min, max]: [number, number]): string {
  if (max <= 0) return 'None';
  return min === max ? span(min) : `${trim(min)}-${span(max)}`;
}

export function retryPolicy(maxAttempts: number, delays: number[]): string {
  if (maxAttempts <= 1) return 'No';
  const used = delays.slice(0, maxAttempts - 1).map((d) => `${trim(d)}s`);
  return `${maxAttempts - 1}× backoff${used.length ? ` ${used.join('→')}` : ''}`;
}

function trim(n: number): string {
  return String(Math.round(n * 100) / 100);
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** A markdown table cell: no pipes or newlines. */
export function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** Plain-text table with aligned columns (numbers right-aligned). */
export function textTable(headers: string[], rows: string[][], rightAlign: boolean[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (rightAlign[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function markdownTable(headers: string[], rows: string[][], rightAlign: boolean[] = []): string {
  const sep = headers.map((_, i) => (rightAlign[i] ? '---:' : '---'));
  return [headers, sep, ...rows].map((r) => `| ${r.map(mdCell).join(' | ')} |`).join('\n');
}

/** A word as a POSIX shell reads it: as is when safe, else in single quotes. */
export function shellArg(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
