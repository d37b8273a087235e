import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  addHostsFileRecords,
  buildHosts,
  hostResolvConfPath,
  readHostResolvConf,
  removeContainerFilesDir,
  removeDirIfEmpty,
  removeFile,
  removeHostsFileRecords,
  rewriteFileInPlace,
  writeFileAtomic,
  writeHostsFile,
  writeResolvConfFile,
} from '../../src/dns/index.ts';
import { InvalidOptionError } from '../../src/errors/index.ts';

let dir: string;
let n = 0;
/** A fresh path under the test's temp dir. */
function fresh(...parts: string[]): string {
  n += 1;
  return join(dir, `t${n}`, ...parts);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dnet-dns-files-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  test('creates parent directories and writes the content with mode 0644, despite the umask', async () => {
    const path = fresh('a', 'b', 'hosts');
    const old = process.umask(0o077);
    try {
      await writeFileAtomic(path, 'hello\n');
    } finally {
      process.umask(old);
    }
    assert.equal(await readFile(path, 'utf8'), 'hello\n');
    assert.equal((await stat(path)).mode & 0o777, 0o644);
  });

  test('replaces the file with a new inode and leaves no temporary file', async () => {
    const path = fresh('resolv.conf');
    await writeFileAtomic(path, 'one\n');
    const ino1 = (await stat(path)).ino;
    await writeFileAtomic(path, 'two\n', { fsync: true });
    assert.equal(await readFile(path, 'utf8'), 'two\n');
    assert.notEqual((await stat(path)).ino, ino1);
    assert.deepEqual(await readdir(join(path, '..')), ['resolv.conf']);
  });

  test('a custom mode', async () => {
    const path = fresh('f');
    await writeFileAtomic(path, 'x', { mode: 0o600 });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
  });

  test('on failure the temporary file is removed', async () => {
    const path = fresh('target');
    await mkdir(join(path, 'occupied'), { recursive: true }); // rename over a non-empty dir fails
    await assert.rejects(writeFileAtomic(path, 'x'));
    assert.deepEqual(await readdir(join(path, '..')), ['target']);
  });

  test('concurrent writes to one path all finish, the last one wins', async () => {
    const path = fresh('hosts');
    await Promise.all(Array.from({ length: 20 }, (_, i) => writeFileAtomic(path, `v${i}\n`)));
    assert.equal(await readFile(path, 'utf8'), 'v19\n');
    assert.deepEqual(await readdir(join(path, '..')), ['hosts']);
  });
});

describe('rewriteFileInPlace', () => {
  test('keeps the inode (bind mounts see it), grows and shrinks', async () => {
    const path = fresh('hosts');
    await writeFileAtomic(path, 'short\n');
    const ino = (await stat(path)).ino;
    await rewriteFileInPlace(path, 'a much longer content than before\n');
    assert.equal(await readFile(path, 'utf8'), 'a much longer content than before\n');
    await rewriteFileInPlace(path, 'tiny\n');
    assert.equal(await readFile(path, 'utf8'), 'tiny\n');
    await rewriteFileInPlace(path, '');
    assert.equal(await readFile(path, 'utf8'), '');
    assert.equal((await stat(path)).ino, ino);
  });

  test('fails when the file does not exist', async () => {
    await assert.rejects(rewriteFileInPlace(fresh('missing'), 'x'), { code: 'ENOENT' });
  });
});

describe('removing', () => {
  test('removeFile says whether the file was there', async () => {
    const path = fresh('hosts');
    await writeFileAtomic(path, 'x');
    assert.equal(await removeFile(path), true);
    assert.equal(await removeFile(path), false);
  });

  test('removeDirIfEmpty and removeContainerFilesDir', async () => {
    const path = fresh('c1', 'hosts');
    await writeFileAtomic(path, 'x');
    const d = join(path, '..');
    assert.equal(await removeDirIfEmpty(d), false);
    await removeContainerFilesDir(d);
    await assert.rejects(stat(d), { code: 'ENOENT' });
    assert.equal(await removeDirIfEmpty(d), true);
    await removeContainerFilesDir(d); // twice is fine
    await mkdir(d);
    assert.equal(await removeDirIfEmpty(d), true);
  });
});

describe('hosts files', () => {
  test('write, add records in place, remove them in place', async () => {
    const path = fresh('hosts');
    const content = await writeHostsFile(path, { hostname: 'c1', addresses: ['10.0.0.2'] });
    assert.equal(content, buildHosts({ hostname: 'c1', addresses: ['10.0.0.2'] }));
    assert.equal(await readFile(path, 'utf8'), content);
    const ino = (await stat(path)).ino;

    const r = { ip: '10.0.0.3', names: ['c2'] };
    await addHostsFileRecords(path, [r]);
    assert.equal(await readFile(path, 'utf8'), `${content}10.0.0.3\tc2\n`);
    await addHostsFileRecords(path, [r]);
    assert.equal(await readFile(path, 'utf8'), `${content}10.0.0.3\tc2\n`, 'adding twice is harmless');
    await removeHostsFileRecords(path, [r]);
    assert.equal(await readFile(path, 'utf8'), content);
    assert.equal((await stat(path)).ino, ino, 'updates keep the inode');
    await addHostsFileRecords(path, []);
    await removeHostsFileRecords(path, []);
  });

  test('concurrent adds do not lose records', async () => {
    const path = fresh('hosts');
    await writeHostsFile(path);
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        addHostsFileRecords(path, [{ ip: `10.0.1.${i}`, names: [`c${i}`] }]),
      ),
    );
    const text = await readFile(path, 'utf8');
    for (let i = 0; i < 30; i++) assert.match(text, new RegExp(`^10\\.0\\.1\\.${i}\\tc${i}$`, 'm'));
  });

  test('invalid input writes nothing', async () => {
    const path = fresh('hosts');
    await assert.rejects(
      writeHostsFile(path, { extraHosts: [{ name: 'x\ny', ip: '1.2.3.4' }] }),
      InvalidOptionError,
    );
    await assert.rejects(stat(path), { code: 'ENOENT' });
    await writeHostsFile(path);
    const prior = await readFile(path, 'utf8');
    await assert.rejects(addHostsFileRecords(path, [{ ip: '1.2.3.4', names: ['a b'] }]), InvalidOptionError);
    assert.equal(await readFile(path, 'utf8'), prior);
  });

  test('adding to a missing file fails', async () => {
    await assert.rejects(addHostsFileRecords(fresh('none'), [{ ip: '1.2.3.4', names: ['a'] }]), {
      code: 'ENOENT',
    });
  });
});

describe('resolv.conf files', () => {
  test('hostResolvConfPath picks systemd-resolved upstream file behind the stub, as Docker', async () => {
    const etc = fresh('etc-resolv.conf');
    const sysd = fresh('systemd-resolv.conf');
    await writeFileAtomic(etc, '# stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n');
    // The upstream file does not exist yet: keep the stub file.
    assert.equal(await hostResolvConfPath({ path: etc, systemdPath: sysd }), etc);
    await writeFileAtomic(sysd, 'nameserver 192.168.1.1\n');
    assert.equal(await hostResolvConfPath({ path: etc, systemdPath: sysd }), sysd);
    // Anything else than the stub alone: the file itself.
    await writeFileAtomic(etc, 'nameserver 127.0.0.53\nnameserver 1.1.1.1\n');
    assert.equal(await hostResolvConfPath({ path: etc, systemdPath: sysd }), etc);
    // No file at all: that path (reading it gives '').
    const none = fresh('no-resolv.conf');
    assert.equal(await hostResolvConfPath({ path: none, systemdPath: sysd }), none);
    assert.equal(await readHostResolvConf(none), '');
  });

  test('writeResolvConfFile derives from the host file, atomically or in place', async () => {
    const host = fresh('host-resolv.conf');
    await writeFileAtomic(host, 'nameserver 127.0.0.53\nnameserver 192.168.1.1\nsearch lan\n');
    const path = fresh('c1', 'resolv.conf');
    const r = await writeResolvConfFile(path, { hostPath: host, header: null });
    assert.deepEqual(r.nameservers, ['192.168.1.1']);
    const text = await readFile(path, 'utf8');
    assert.equal(text, r.content);
    assert.equal(
      text,
      `nameserver 192.168.1.1\nsearch lan\n\n# Based on host file: '${host}' (legacy)\n# Overrides: []\n`,
    );
    assert.equal((await stat(path)).mode & 0o777, 0o644);

    const ino = (await stat(path)).ino;
    const r2 = await writeResolvConfFile(path, { hostPath: host, dns: ['9.9.9.9'], inPlace: true });
    assert.equal(await readFile(path, 'utf8'), r2.content);
    assert.match(r2.content, /^nameserver 9\.9\.9\.9$/m);
    assert.equal((await stat(path)).ino, ino);
  });

  test('a missing host file gives the default nameservers', async () => {
    const path = fresh('resolv.conf');
    const r = await writeResolvConfFile(path, { hostPath: fresh('absent') });
    assert.deepEqual(r.nameservers, ['8.8.8.8', '8.8.4.4']);
    assert.equal(r.usedDefaultNameservers, true);
  });

  test('an unreadable host path (a directory) is an error, not the defaults', async () => {
    const d = fresh('dir');
    await mkdir(d, { recursive: true });
    await assert.rejects(writeResolvConfFile(fresh('resolv.conf'), { hostPath: d }), { code: 'EISDIR' });
  });

  test('invalid overrides write nothing', async () => {
    const host = fresh('host');
    await writeFileAtomic(host, 'nameserver 1.1.1.1\n');
    const path = fresh('resolv.conf');
    await assert.rejects(writeResolvConfFile(path, { hostPath: host, dns: ['nope'] }), InvalidOptionError);
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });
});
