import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { get } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.ts';
import { world } from '../harness/world.ts';
import { runDaemon, startDaemonProcess } from '../helpers/daemon-process.ts';
import { call } from '../helpers/http.ts';

// `--metrics-addr`: Prometheus text at /metrics, scraped with a plain HTTP client and parsed.

const sock = join(world.runDir, 'metrics.sock');
let daemon: Daemon;

const runDir = join(world.runDir, 'dnet');
const dataDir = join(world.runDir, 'data');
let closed = false;

before(async () => {
  daemon = await startDaemon({
    runDir,
    dataDir,
    hosts: [`unix://${sock}`],
    pluginSocket: '',
    metricsAddr: '127.0.0.1:0',
    log: () => {},
  });
});

after(async () => {
  if (!closed) await daemon.close();
});

function httpGet(url: string): Promise<{ status: number; type: string; text: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text }),
      );
    }).on('error', reject);
  });
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format (0.0.4): # HELP / # TYPE lines and `name{l="v",...} value` samples. */
function parseMetrics(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[k!] = v!;
    // Go's ParseFloat spellings: +Inf, -Inf, NaN (prom-client prints an idle event-loop mean as Nan).
    const text = m[3]!;
    const value = /^[+-]?inf$/i.test(text)
      ? text.startsWith('-')
        ? Number.NEGATIVE_INFINITY
        : Number.POSITIVE_INFINITY
      : Number(text);
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(text), line);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types };
}

async function scrape(addr = daemon.metricsAddr) {
  const r = await httpGet(`http://${addr}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.type, /^text\/plain; version=0\.0\.4/);
  return parseMetrics(r.text);
}

/** The value of the sample with this name whose labels include `labels` (0 when absent). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const s = samples.filter(
    (x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  );
  return s.reduce((sum, x) => sum + x.value, 0);
}

const api = (method: string, path: string, body?: unknown) => call(sock, method, path, body);

describe('dnet daemon metrics', () => {
  test('served on the address bound; other paths are 404', async () => {
    assert.match(daemon.metricsAddr ?? '', /^127\.0\.0\.1:\d+$/);
    const r = await httpGet(`http://${daemon.metricsAddr}/other`);
    assert.equal(r.status, 404);
    const { types, samples } = await scrape();
    assert.equal(types.get('dnet_api_request_duration_seconds'), 'histogram');
    assert.equal(types.get('dnet_operations_total'), 'counter');
    assert.equal(types.get('dnet_networks'), 'gauge');
    assert.equal(types.get('dnet_nftables_transaction_duration_seconds'), 'histogram');
    assert.ok(value(samples, 'process_cpu_user_seconds_total') > 0, "Node's process metrics are there");
    // The start's restore is one operation.
    assert.equal(value(samples, 'dnet_operations_total', { operation: 'restore' }), 1);
    assert.equal(value(samples, 'dnet_operation_duration_seconds_count', { operation: 'restore' }), 1);
  });

  test('API latency by route and status; operations and failures; gauges; nftables transactions', async () => {
    const before = (await scrape()).samples;
    const create = await api('POST', '/networks/create', {
      Name: 'm-net',
      IPAM: { Config: [{ Subnet: '10.81.0.0/24' }] },
    });
    assert.equal(create.status, 201, create.text);
    const dup = await api('POST', '/networks/create', { Name: 'm-net' });
    assert.ok(dup.status >= 400, dup.text);
    assert.equal((await api('POST', '/networks/m-net/connect', { Container: 'm-c1' })).status, 200);
    assert.equal((await api('GET', '/networks/m-net')).status, 200);
    assert.equal((await api('GET', '/no/such/path')).status, 404);

    let { samples } = await scrape();
    const diff = (name: string, labels: Record<string, string> = {}) =>
      value(samples, name, labels) - value(before, name, labels);
    const h = 'dnet_api_request_duration_seconds_count';
    assert.equal(diff(h, { method: 'POST', route: '/networks/create', status: '201' }), 1);
    assert.equal(diff(h, { method: 'POST', route: '/networks/create', status: String(dup.status) }), 1);
    assert.equal(diff(h, { method: 'POST', route: '/networks/{id}/connect', status: '200' }), 1);
    assert.equal(diff(h, { method: 'GET', route: '/networks/{id}', status: '200' }), 1);
    assert.equal(diff(h, { method: 'GET', route: 'unmatched', status: '404' }), 1);
    // Buckets are cumulative: +Inf holds every observation.
    assert.equal(
      diff('dnet_api_request_duration_seconds_bucket', {
        route: '/networks/create',
        status: '201',
        le: '+Inf',
      }),
      1,
    );
    assert.equal(diff('dnet_operations_total', { operation: 'create' }), 2);
    assert.equal(
      diff('dnet_operation_failures_total', { operation: 'create', code: 'ERR_NETWORK_NAME_EXISTS' }),
      1,
    );
    assert.equal(diff('dnet_operations_total', { operation: 'connect' }), 1);
    assert.equal(diff('dnet_operation_duration_seconds_count', { operation: 'connect' }), 1);
    assert.equal(value(samples, 'dnet_networks', { driver: 'bridge' }), 2);
    assert.equal(value(samples, 'dnet_networks', { driver: 'null' }), 1);
    assert.equal(value(samples, 'dnet_endpoints'), 1);
    assert.equal(value(samples, 'dnet_sandboxes'), 1);
    assert.ok(diff('dnet_nftables_transaction_duration_seconds_count', { result: 'ok' }) >= 1);
    assert.ok(diff('dnet_events_total') >= 2);

    assert.equal((await api('POST', '/networks/m-net/disconnect', { Container: 'm-c1' })).status, 200);
    assert.equal((await api('DELETE', '/networks/m-net')).status, 204);
    ({ samples } = await scrape());
    assert.equal(diff('dnet_operations_total', { operation: 'disconnect' }), 1);
    assert.equal(diff('dnet_operations_total', { operation: 'delete' }), 1);
    assert.equal(value(samples, 'dnet_networks', { driver: 'bridge' }), 1);
    assert.equal(value(samples, 'dnet_endpoints'), 0);
    assert.equal(value(samples, 'dnet_sandboxes'), 0);
  });

  test('a repair after someone flushes the ruleset is counted', async () => {
    assert.equal(
      (
        await api('POST', '/networks/create', {
          Name: 'm-heal',
          IPAM: { Config: [{ Subnet: '10.82.0.0/24' }] },
        })
      ).status,
      201,
    );
    const before = (await scrape()).samples;
    execFileSync('nft', ['flush', 'ruleset']); // inside the world's namespace
    const deadline = Date.now() + 15_000;
    let samples = before;
    while (Date.now() < deadline) {
      samples = (await scrape()).samples;
      if (value(samples, 'dnet_reconcile_runs_total') > value(before, 'dnet_reconcile_runs_total')) break;
      await sleep(100);
    }
    assert.ok(value(samples, 'dnet_reconcile_runs_total') > value(before, 'dnet_reconcile_runs_total'));
    assert.ok(
      value(samples, 'dnet_reconcile_actions_total', { outcome: 'repaired' }) >
        value(before, 'dnet_reconcile_actions_total', { outcome: 'repaired' }),
    );
    assert.equal((await api('DELETE', '/networks/m-heal')).status, 204);
  });
});

describe('dnet daemon --metrics-addr', () => {
  // The same state as the daemon above (closed first): its default bridge is restored, not a conflict.
  const args = ['--run-dir', runDir, '--data-dir', dataDir, '-H', `unix://${sock}`, '--plugin-socket', ''];
  before(async () => {
    await daemon.close();
    closed = true;
  });

  test('the flag serves the metrics; its start line names the address', async () => {
    const d = await startDaemonProcess(world.root, [...args, '--metrics-addr', '127.0.0.1:0']);
    try {
      const start = d.entries().find((e) => e.event === 'start');
      const addr = start?.metricsAddr as string;
      assert.match(addr, /^127\.0\.0\.1:\d+$/);
      const { samples } = await scrape(addr);
      assert.equal(value(samples, 'dnet_networks', { driver: 'host' }), 1);
    } finally {
      assert.equal(await d.stop(), 0);
    }
  });

  test('an address that is not addr:port fails the start with a message saying so', async () => {
    const r = await runDaemon(world.root, [...args, '--metrics-addr', 'localhost']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /metrics-addr.*expected addr:port/);
  });
});
