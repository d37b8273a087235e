import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  backoffMs,
  DEFAULT_PLUGIN_TIMEOUTS,
  MAX_REPLY_BYTES,
  PLUGIN_MIME,
  PluginCallError,
  PluginClient,
  PluginNotImplementedError,
  PluginRegistry,
  PluginReplyError,
  PluginUnavailableError,
} from '../../src/plugins/index.ts';
import { FakePlugin } from '../helpers/plugin-fake.ts';

let fake: FakePlugin;
afterEach(async () => {
  await fake?.close();
});

async function started(name = 'fake'): Promise<FakePlugin> {
  fake = new FakePlugin(name);
  return fake.listen();
}

describe('plugin client: requests and replies', () => {
  test("POST /<method> with Docker's Accept header; JSON body, or none without arguments", async () => {
    const p = await started();
    p.on('NetworkDriver.Join', { Gateway: '10.0.0.1' }).on('Plugin.Activate', {
      Implements: ['NetworkDriver'],
    });
    const c = p.client();
    assert.deepEqual(await c.call('Plugin.Activate', undefined), { Implements: ['NetworkDriver'] });
    assert.deepEqual(await c.call('NetworkDriver.Join', { NetworkID: 'n', Options: {} }, 'Err'), {
      Gateway: '10.0.0.1',
    });
    const [activate, join] = p.requests;
    assert.equal(activate?.raw, '');
    assert.equal(activate?.headers['content-length'], '0');
    assert.equal(join?.method, 'NetworkDriver.Join');
    assert.equal(join?.headers.accept, PLUGIN_MIME);
    assert.equal(join?.headers['content-type'], undefined, 'dockerd sends no Content-Type');
    assert.deepEqual(join?.body, { NetworkID: 'n', Options: {} });
  });

  test('an empty 200 reply is {}; garbage, non-objects and huge replies are refused', async () => {
    const p = await started();
    p.on('A.Empty', { body: '' })
      .on('A.Garbage', { body: '{"a": ' })
      .on('A.Array', { body: '[1,2]' })
      .on('A.Huge', { body: `{"x": "${'y'.repeat(MAX_REPLY_BYTES)}"}` });
    const c = p.client();
    assert.deepEqual(await c.call('A.Empty', {}), {});
    await assert.rejects(c.call('A.Garbage', {}), (e: unknown) => {
      assert.ok(e instanceof PluginReplyError);
      assert.equal(e.method, 'A.Garbage');
      assert.match(e.message, /^plugin "fake" sent an invalid reply to A\.Garbage: not JSON: "\{\\"a\\":"$/);
      return true;
    });
    await assert.rejects(c.call('A.Array', {}), /expected a JSON object/);
    await assert.rejects(c.call('A.Huge', {}), /larger than 1048576 bytes/);
  });

  test('errors: non-200 with Err, Error or text; 404 is "not implemented"; Err in a 200 reply', async () => {
    const p = await started();
    p.on('N.Err', { status: 500, body: { Err: 'bridge busy' } })
      .on('I.Error', { status: 400, body: { Error: 'no such pool' } })
      .on('X.Text', { status: 502, body: 'upstream exploded\n' })
      .on('X.Empty', { status: 503, body: '' })
      .on('N.Err200', { body: { Err: 'refused politely' } })
      .on('I.Error200', { body: { Error: 'pool exhausted' } })
      .on('N.ErrType', { body: { Err: 42 } });
    const c = p.client();
    const check = async (method: string, status: number, msg: string, field?: 'Err' | 'Error') => {
      await assert.rejects(c.call(method, {}, field), (e: unknown) => {
        assert.ok(e instanceof PluginCallError, String(e));
        assert.equal(e.code, 'ERR_PLUGIN_FAILED');
        assert.equal(e.kind, 'internal');
        assert.equal(e.plugin, 'fake');
        assert.equal(e.method, method);
        assert.equal(e.status, status);
        assert.equal(e.pluginMessage, msg);
        assert.equal(
          e.message,
          `plugin "fake" failed ${method}${status === 200 ? '' : ` (HTTP ${status})`}: ${msg}`,
        );
        return true;
      });
    };
    await check('N.Err', 500, 'bridge busy');
    await check('I.Error', 400, 'no such pool');
    await check('X.Text', 502, 'upstream exploded');
    await check('X.Empty', 503, 'Service Unavailable');
    await check('N.Missing', 404, '404 page not found');
    await check('N.Err200', 200, 'refused politely', 'Err');
    await check('I.Error200', 200, 'pool exhausted', 'Error');
    // The error field is the subsystem's: IPAM's `Error` is data to a network driver call.
    assert.deepEqual(await c.call('I.Error200', {}, 'Err'), { Error: 'pool exhausted' });
    await assert.rejects(c.call('N.ErrType', {}, 'Err'), PluginReplyError);
    await assert.rejects(
      c.call('N.Missing', {}),
      (e: unknown) => e instanceof PluginCallError && e.notImplemented,
    );
  });
});

describe('plugin client: failures, timeouts and retries', () => {
  test("backoff: Docker's 1 s, 2 s, 4 s... within 30 s by default; configurable", () => {
    assert.deepEqual(DEFAULT_PLUGIN_TIMEOUTS, {
      callTimeoutMs: 30_000,
      retryInitialMs: 1_000,
      retryTotalMs: 30_000,
    });
    const d = { ...DEFAULT_PLUGIN_TIMEOUTS };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6].map((r) => backoffMs(r, d)),
      [1000, 2000, 4000, 8000, 16000, 30000, 30000],
    );
    assert.deepEqual(
      [0, 1, 2, 3].map((r) => backoffMs(r, { callTimeoutMs: 1, retryInitialMs: 50, retryTotalMs: 300 })),
      [50, 100, 200, 300],
    );
    assert.throws(() => new FakePlugin().client({ callTimeoutMs: -1 }), RangeError);
  });

  test('nothing listening yet: retried with backoff until the plugin is up', async () => {
    fake = new FakePlugin('late');
    fake.on('P.Ping', { ok: true });
    const c = fake.client({ callTimeoutMs: 1000, retryInitialMs: 20, retryTotalMs: 3000 });
    const t0 = Date.now();
    const late = new Promise((r) => setTimeout(r, 150)).then(() => fake.listen());
    assert.deepEqual(await c.call('P.Ping', {}), { ok: true });
    await late;
    assert.ok(Date.now() - t0 >= 150);
    assert.equal(fake.requests.length, 1);
  });

  test('nothing listening, ever: fails once the retry budget is spent, naming plugin, method, address', async () => {
    fake = new FakePlugin('gone');
    const c = fake.client({ callTimeoutMs: 1000, retryInitialMs: 50, retryTotalMs: 300 });
    const t0 = Date.now();
    await assert.rejects(c.call('NetworkDriver.Leave', {}), (e: unknown) => {
      assert.ok(e instanceof PluginUnavailableError, String(e));
      assert.equal(e.code, 'ERR_PLUGIN_UNAVAILABLE');
      assert.equal(e.kind, 'unavailable');
      assert.equal(e.address, `unix://${fake.socket}`);
      assert.match(
        e.message,
        /^plugin "gone" did not answer NetworkDriver\.Leave at unix:\/\/\S+gone\.sock: .*ENOENT.*\(3 attempts\)/,
      );
      return true;
    });
    const took = Date.now() - t0;
    assert.ok(took >= 150 && took < 300, `took ${took} ms (waits 50 + 100, then 200 would pass the budget)`);
  });

  test('a stale socket (its plugin was killed): connection refused, retried, then fails', async () => {
    fake = new FakePlugin('stale');
    const child: ChildProcess = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(fake.socket)}, () => console.log('up'))`,
    ]);
    await new Promise((r) => child.stdout?.once('data', r));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const c = fake.client({ callTimeoutMs: 1000, retryInitialMs: 20, retryTotalMs: 100 });
    await assert.rejects(c.call('X.Y', {}), /did not answer X\.Y .*ECONNREFUSED.*attempts/);
  });

  test('no reply in time: fails after the call timeout, without retrying', async () => {
    const p = await started();
    p.on('X.Hang', { hang: true });
    const c = p.client({ callTimeoutMs: 200, retryInitialMs: 10, retryTotalMs: 5000 });
    const t0 = Date.now();
    await assert.rejects(c.call('X.Hang', {}), /did not answer X\.Hang at .*: no reply within 200 ms;/);
    const took = Date.now() - t0;
    assert.ok(took >= 200 && took < 1000, `took ${took} ms`);
    assert.equal(p.requests.length, 1, 'the plugin may have acted: not retried');
  });

  test('the connection drops before a reply (the plugin died mid-call): fails at once, no retry', async () => {
    const p = await started();
    p.on('X.Drop', { drop: true });
    const c = p.client({ callTimeoutMs: 2000, retryInitialMs: 10, retryTotalMs: 5000 });
    await assert.rejects(c.call('X.Drop', {}), (e: unknown) => {
      assert.ok(e instanceof PluginUnavailableError);
      assert.match(e.message, /the connection dropped before a reply/);
      return true;
    });
    assert.equal(p.requests.length, 1);
  });
});

describe('plugin client over TCP and TLS', () => {
  let dir: string;
  let haveOpenssl = true;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'dnet-tls-'));
    try {
      for (const n of ['server', 'client']) {
        execFileSync(
          'openssl',
          [
            'req',
            '-x509',
            '-newkey',
            'ec',
            '-pkeyopt',
            'ec_paramgen_curve:prime256v1',
            '-nodes',
            '-days',
            '1',
            '-subj',
            `/CN=${n}`,
            '-addext',
            'subjectAltName=IP:127.0.0.1,DNS:localhost',
            '-keyout',
            join(dir, `${n}-key.pem`),
            '-out',
            join(dir, `${n}.pem`),
          ],
          { stdio: 'ignore' },
        );
      }
    } catch {
      haveOpenssl = false;
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('plain TCP from a .spec file', async () => {
    fake = new FakePlugin('tcpplug');
    fake.on('Plugin.Activate', { Implements: ['IpamDriver'] });
    const port = await fake.listenTcp();
    writeFileSync(join(dir, 'tcpplug.spec'), `tcp://127.0.0.1:${port}\n`);
    const reg = new PluginRegistry({ pluginDirs: { sockets: [], specs: [dir] } });
    const a = await reg.get('tcpplug');
    assert.deepEqual(a?.implements, ['IpamDriver']);
    assert.equal(a?.client.url, `tcp://127.0.0.1:${port}`);
  });

  test('TLS with a CA and a client certificate from a .json file; a wrong CA is refused', async (t) => {
    if (!haveOpenssl) return t.skip('openssl is not installed');
    fake = new FakePlugin('tlsplug');
    fake.on('Plugin.Activate', { Implements: ['NetworkDriver'] });
    const server = https.createServer({
      key: readFileSync(join(dir, 'server-key.pem')),
      cert: readFileSync(join(dir, 'server.pem')),
      ca: readFileSync(join(dir, 'client.pem')),
      requestCert: true,
      rejectUnauthorized: true,
    });
    const port = await fake.listenTcp(server);
    writeFileSync(
      join(dir, 'tlsplug.json'),
      JSON.stringify({
        Name: 'tlsplug',
        Addr: `tcp://127.0.0.1:${port}`,
        TLSConfig: {
          CAFile: join(dir, 'server.pem'),
          CertFile: join(dir, 'client.pem'),
          KeyFile: join(dir, 'client-key.pem'),
        },
      }),
    );
    const reg = new PluginRegistry({ pluginDirs: { sockets: [], specs: [dir] } });
    const a = await reg.get('tlsplug');
    assert.deepEqual(a?.implements, ['NetworkDriver']);
    assert.equal(a?.client.url, `https://127.0.0.1:${port}`);
    assert.equal(fake.requests[0]?.headers.accept, PLUGIN_MIME);

    // Verified against the wrong CA: refused at once (a certificate problem is not retried).
    const wrong = new PluginClient(
      {
        kind: 'tcp',
        name: 'tlsplug',
        host: '127.0.0.1',
        port,
        tls: {
          insecureSkipVerify: false,
          caFile: join(dir, 'client.pem'),
          certFile: join(dir, 'client.pem'),
          keyFile: join(dir, 'client-key.pem'),
        },
        source: 'test',
      },
      { callTimeoutMs: 2000, retryInitialMs: 50, retryTotalMs: 5000 },
    );
    const t0 = Date.now();
    await assert.rejects(wrong.call('Plugin.Activate', undefined), PluginUnavailableError);
    assert.ok(Date.now() - t0 < 1000);
    // A TLS file that cannot be read is a spec problem.
    assert.throws(
      () =>
        new PluginClient({
          kind: 'tcp',
          name: 'x',
          host: '127.0.0.1',
          port,
          tls: { insecureSkipVerify: true, caFile: join(dir, 'missing.pem') },
          source: join(dir, 'x.json'),
        }),
      /spec file .*x\.json is unusable: TLS CA file .*missing\.pem cannot be read \(ENOENT\)/,
    );
  });
});

describe('plugin registry: activation', () => {
  test('activated once; a plugin of another kind; unknown names; failed activations are tried again', async () => {
    const p = await started('multi');
    let activations = 0;
    p.on('Plugin.Activate', () => {
      activations++;
      return activations === 1 ? { status: 500, body: { Err: 'not yet' } } : { Implements: ['IpamDriver'] };
    });
    const reg = new PluginRegistry({
      pluginDirs: { sockets: [p.dir], specs: [] },
      pluginTimeouts: { callTimeoutMs: 1000, retryInitialMs: 10, retryTotalMs: 50 },
    });
    await assert.rejects(reg.get('multi'), /plugin "multi" failed Plugin\.Activate \(HTTP 500\): not yet/);
    const [a, b] = await Promise.all([reg.get('multi'), reg.get('multi')]);
    assert.equal(a, b);
    assert.equal(activations, 2, 'one activation for concurrent lookups, none after');
    assert.ok(await reg.clientFor('multi', 'IpamDriver'));
    await assert.rejects(reg.clientFor('multi', 'NetworkDriver'), (e: unknown) => {
      assert.ok(e instanceof PluginNotImplementedError);
      assert.equal(e.kind, 'not-found');
      assert.match(e.message, /plugin "multi" does not implement NetworkDriver \(it implements IpamDriver\)/);
      return true;
    });
    assert.equal(await reg.get('nothing-here'), undefined);
    assert.equal(await reg.clientFor('nothing-here', 'IpamDriver'), undefined);
  });

  test('a manifest without Implements, or with non-strings, is refused', async () => {
    const p = await started('bad');
    const reg = new PluginRegistry({ pluginDirs: { sockets: [p.dir], specs: [] } });
    p.on('Plugin.Activate', {});
    await assert.rejects(reg.get('bad'), /invalid reply to Plugin\.Activate: "Implements" is missing/);
    p.on('Plugin.Activate', { Implements: 'NetworkDriver' });
    await assert.rejects(reg.get('bad'), /"Implements" is not an array/);
    p.on('Plugin.Activate', { Implements: [1] });
    await assert.rejects(reg.get('bad'), /"Implements\[0\]" is not a string/);
  });

  test('a plugin that did not answer is not waited for again at once, unless its socket is new', async () => {
    fake = new FakePlugin('dead');
    const child: ChildProcess = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(fake.socket)}, () => console.log('up'))`,
    ]);
    await new Promise((r) => child.stdout?.once('data', r));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const reg = new PluginRegistry({
      pluginDirs: { sockets: [fake.dir], specs: [] },
      pluginTimeouts: { callTimeoutMs: 1000, retryInitialMs: 50, retryTotalMs: 700 },
    });
    fake.on('Plugin.Activate', { Implements: ['NetworkDriver'] });
    const t0 = Date.now();
    const first = await reg.get('dead').catch((e: unknown) => e);
    assert.ok(first instanceof PluginUnavailableError);
    assert.ok(Date.now() - t0 >= 300, 'the first lookup waits for the retries');
    const t1 = Date.now();
    assert.equal(await reg.get('dead').catch((e: unknown) => e), first, 'the same error, at once');
    assert.ok(Date.now() - t1 < 200);
    // The plugin comes back (a new socket): found at once.
    rmSync(fake.socket);
    await fake.listen();
    assert.deepEqual((await reg.get('dead'))?.implements, ['NetworkDriver']);
  });
});
