/*
 * notifyWebhook against a loopback HTTP receiver: success, 500 then success, a receiver that
 * never answers (timeout per attempt), connection refused, a 4xx that is not retried; the
 * payload (Slack-compatible `text`, the RunStatus), the attempts, and that no error message
 * carries the URL's secret path or query. The backoff waits go through a recording clock.
 */
import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRunHistory } from '../../src/ledger/status.js';
import type { RunStatus } from '../../src/ledger/status-types.js';
import { notificationText, notifyWebhook, redactUrl } from '../../src/notify/webhook.js';
import { RunFixture } from '../helpers/runs.js';

type Hit = { method: string; url: string; headers: IncomingMessage['headers']; body: string };

async function receiver(answer: (n: number, res: ServerResponse) => void): Promise<{ server: Server; base: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      hits.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      answer(hits.length, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

const SECRET = '/services/T000/B000/XXXXsecretXXXX';

function status(): RunStatus {
  const root = mkdtempSync(join(tmpdir(), 'dcl-notify-'));
  const f = new RunFixture(root, { runId: '20260105-090000-ab12', name: 'opportunities', partitionRows: [1000, 1000], start: Date.parse('2026-01-05T09:00:00Z') });
  f.session('start', 0, 3720, 'completed');
  f.job({ partition: 0, rows: 1000, at: 1800, startedAt: 10, failures: { FIELD_CUSTOM_VALIDATION_EXCEPTION: ['a', 'b'] } });
  f.job({ partition: 1, rows: 1000, at: 3700, startedAt: 1800 });
  f.finishPartitions();
  return readRunHistory(f.run).status;
}

describe('notify: webhook at the end of a run', () => {
  const s = status();
  const sleeps: number[] = [];
  const clock = { sleep: async (ms: number): Promise<void> => void sleeps.push(ms) };
  beforeEach(() => (sleeps.length = 0));

  it('the text is one line: run id, state, loaded/failed of total, duration', () => {
    expect(notificationText(s)).to.equal('Data Cloud load 20260105-090000-ab12 (opportunities): completed with 2 failed rows. 1,998 loaded, 2 failed of 2,000 rows into Opportunity in 1h 2m.');
    expect(redactUrl(`https://hooks.slack.com${SECRET}?token=abc`)).to.equal('https://hooks.slack.com/…');
    expect(redactUrl('http://127.0.0.1:8080')).to.equal('http://127.0.0.1:8080');
  });

  it('success: one POST of JSON with `text` and the status', async () => {
    const r = await receiver((_, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
    try {
      const result = await notifyWebhook(r.base + SECRET, { status: s, text: notificationText(s) }, { clock });
      expect(result).to.deep.equal({ ok: true, attempts: 1, status: 200 });
      expect(r.hits).to.have.length(1);
      expect(r.hits[0].method).to.equal('POST');
      expect(r.hits[0].url).to.equal(SECRET);
      expect(r.hits[0].headers['content-type']).to.equal('application/json');
      const body = JSON.parse(r.hits[0].body);
      expect(body.text).to.equal(notificationText(s));
      expect(body.status.runId).to.equal('20260105-090000-ab12');
      expect(body.status.totals.failed).to.equal(2);
      expect(sleeps).to.deep.equal([]);
    } finally {
      await close(r.server);
    }
  });

  it('500 then success: two attempts with a backoff between them', async () => {
    const r = await receiver((n, res) => (n === 1 ? res.writeHead(500).end('boom') : res.writeHead(204).end()));
    try {
      const result = await notifyWebhook(r.base + SECRET, { status: s, text: 'x' }, { clock, backoffMs: 300 });
      expect(result).to.deep.equal({ ok: true, attempts: 2, status: 204 });
      expect(r.hits.map((h) => JSON.parse(h.body).text)).to.deep.equal(['x', 'x']);
      expect(sleeps).to.deep.equal([300]);
    } finally {
      await close(r.server);
    }
  });

  it('a receiver that never answers: every attempt times out, the result says so without the secret path', async () => {
    const r = await receiver(() => undefined);
    try {
      const result = await notifyWebhook(r.base + SECRET, { status: s, text: 'x' }, { clock, attempts: 3, timeoutMs: 150, backoffMs: 100 });
      expect(result.ok).to.equal(false);
      expect(result.attempts).to.equal(3);
      expect(r.hits).to.have.length(3);
      expect(result.error).to.equal(`${r.base}/…: no answer within 150 ms`);
      expect(sleeps).to.deep.equal([100, 200]);
    } finally {
      await close(r.server);
    }
  });

  it('connection refused: bounded attempts, never throws, no secret in the error', async () => {
    const r = await receiver(() => undefined);
    const url = `${r.base}${SECRET}?sig=s3cr3t`;
    await close(r.server);
    const result = await notifyWebhook(url, { status: s, text: 'x' }, { clock, attempts: 4, timeoutMs: 1000 });
    expect(result.ok).to.equal(false);
    expect(result.attempts).to.equal(4);
    expect(result.status).to.equal(undefined);
    expect(result.error).to.match(/^http:\/\/127\.0\.0\.1:\d+\/…: ECONNREFUSED/);
    expect(result.error).to.not.include('secret').and.not.include('s3cr3t').and.not.include('T000');
    expect(sleeps).to.deep.equal([1000, 2000, 4000]);
  });

  it('a 404 is final (the URL is wrong and stays wrong): one attempt', async () => {
    const r = await receiver((_, res) => res.writeHead(404).end('no such hook'));
    try {
      const result = await notifyWebhook(r.base + SECRET, { status: s, text: 'x' }, { clock });
      expect(result).to.deep.equal({ ok: false, attempts: 1, status: 404, error: `${r.base}/… answered HTTP 404` });
      expect(r.hits).to.have.length(1);
    } finally {
      await close(r.server);
    }
  });

  it('an invalid URL: no attempt, no throw', async () => {
    const result = await notifyWebhook('not a url', { status: s, text: 'x' }, { clock });
    expect(result.ok).to.equal(false);
    expect(result.attempts).to.equal(0);
    expect(result.error).to.match(/^cannot send to <an invalid URL>/);
  });
});
