/*
 * The end-of-run notification: POST the run's final status as JSON to a webhook, with a
 * Slack-compatible one-line `text` field, so a Slack/Teams/Mattermost incoming webhook or
 * any HTTP receiver hears when a long load ends.
 *
 * Never throws and never holds a run up for long: a bounded number of attempts, each with a
 * timeout, with a short backoff between them. Retries on network errors, timeouts, 429 and
 * 5xx; a 4xx other than 429 is final (the URL or the payload is wrong, and will stay so).
 *
 * Webhook URLs are secrets (Slack's carry the token in the path): only redactUrl(url),
 * scheme and host, ever appears in an error or a log line.
 */
import type { RunStatus } from '../ledger/status-types.js';
import { duration, int } from '../report/format.js';
import { runBadge } from '../report/state.js';

export type WebhookPayload = { status: RunStatus; text: string };

export type WebhookOptions = {
  /** Attempts in all, the first included (default 3, at least 1, at most 10). */
  attempts?: number;
  /** Timeout of each attempt, ms (default 5,000). */
  timeoutMs?: number;
  /** Backoff before attempt n+1 is backoffMs × 2^(n−1) (default 1,000: 1 s, 2 s, …). */
  backoffMs?: number;
  /** The waits between attempts go through it (the engine's Clock fits). */
  clock?: { sleep(ms: number): Promise<void> };
};

export type WebhookResult = {
  ok: boolean;
  attempts: number;
  /** HTTP status of the last response, when there was one. */
  status?: number;
  /** Why the last attempt failed (never the full URL). */
  error?: string;
};

const defaultClock = { sleep: (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms)) };

/** POST payload to url; resolves with what happened, never rejects. */
export async function notifyWebhook(url: string, payload: WebhookPayload, opts: WebhookOptions = {}): Promise<WebhookResult> {
  const attempts = Math.min(10, Math.max(1, Math.floor(opts.attempts ?? 3)));
  const timeoutMs = Math.max(1, opts.timeoutMs ?? 5000);
  const backoffMs = Math.max(0, opts.backoffMs ?? 1000);
  const clock = opts.clock ?? defaultClock;
  const safe = redactUrl(url);
  let body: string;
  try {
    body = JSON.stringify({ text: payload.text, status: payload.status });
    new URL(url); // eslint-disable-line no-new
  } catch (err) {
    return { ok: false, attempts: 0, error: scrub(`cannot send to ${safe}: ${(err as Error).message}`, url) };
  }
  let last: WebhookResult = { ok: false, attempts: 0 };
  for (let n = 1; n <= attempts; n++) {
    if (n > 1) await clock.sleep(backoffMs * 2 ** (n - 2));
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'sf-datacloud-load' },
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ok: true, attempts: n, status: res.status };
      last = { ok: false, attempts: n, status: res.status, error: `${safe} answered HTTP ${res.status}` };
      if (res.status < 500 && res.status !== 429) return last;
    } catch (err) {
      last = { ok: false, attempts: n, error: scrub(`${safe}: ${reason(err, timeoutMs)}`, url) };
    }
  }
  return last;
}

/** The one-line text: run id, state, loaded/failed of total, duration. */
export function notificationText(s: RunStatus): string {
  const t = s.totals;
  const who = s.name ? `${s.runId} (${s.name})` : s.runId;
  return `Data Cloud load ${who}: ${runBadge(s).label}. ${int(t.loaded)} loaded, ${int(t.failed)} failed of ${int(t.sourceRows)} rows into ${s.target.object} in ${duration(s.timing.elapsedSeconds)}.`;
}

/** Scheme and host only ("https://hooks.slack.com/…"): what may be shown of a webhook URL. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const hidden = u.pathname.length > 1 || u.search || u.hash || u.username || u.password;
    return `${u.protocol}//${u.host}${hidden ? '/…' : ''}`;
  } catch {
    return '<an invalid URL>';
  }
}

function reason(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const cause = e?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return e?.message ?? String(err);
}

/** Belt and braces: no message may carry the URL's secret parts. */
function scrub(message: string, url: string): string {
  let out = message.split(url).join(redactUrl(url));
  try {
    const u = new URL(url);
    for (const secret of [u.pathname.length > 1 ? u.pathname : '', u.search, u.password].filter((x) => x.length > 3)) out = out.split(secret).join('/…');
  } catch {
    // not a URL: nothing more to hide than the whole string, done above
  }
  return out;
}
