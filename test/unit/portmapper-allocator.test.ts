import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '../../src/errors/index.ts';
import {
  type Allocated,
  InvalidPortBindingError,
  MAX_PORT_RANGE,
  NoAvailablePortError,
  PortAllocator,
  PortAlreadyAllocatedError,
  type PortRequest,
  parseHostIp,
} from '../../src/portmapper/index.ts';

function one(pa: PortAllocator, r: PortRequest): Allocated {
  const [a] = pa.allocate([r]);
  assert.ok(a);
  return a;
}

function invalidField(fn: () => unknown, field: string, reason?: RegExp): InvalidPortBindingError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof InvalidPortBindingError, `expected InvalidPortBindingError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_INVALID_PORT_BINDING');
    assert.equal(err.kind, 'invalid');
    assert.equal(err.field, field);
    if (reason) assert.match(err.message, reason);
    return err;
  }
  assert.fail(`expected InvalidPortBindingError on ${field}`);
}

function conflictOf(fn: () => unknown): PortAlreadyAllocatedError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PortAlreadyAllocatedError, `expected a conflict, got ${String(err)}`);
    return err;
  }
  assert.fail('expected PortAlreadyAllocatedError');
}

describe('PortAllocator: options', () => {
  test('defaults to 49153-65535', () => {
    const pa = new PortAllocator();
    assert.equal(pa.ephemeralStart, 49153);
    assert.equal(pa.ephemeralEnd, 65535);
    assert.deepEqual(one(pa, { proto: 'tcp', hostIP: '0.0.0.0' }), {
      proto: 'tcp',
      hostIP: '0.0.0.0',
      hostPort: 49153,
      hostPortEnd: 49153,
    });
  });

  test('a bad range is refused naming the option', () => {
    const cases: [ConstructorParameters<typeof PortAllocator>[0], string][] = [
      [{ ephemeralStart: 0 }, 'ephemeralStart'],
      [{ ephemeralStart: 65536 }, 'ephemeralStart'],
      [{ ephemeralStart: 1.5 }, 'ephemeralStart'],
      [{ ephemeralStart: '1000' as unknown as number }, 'ephemeralStart'],
      [{ ephemeralEnd: 70000 }, 'ephemeralEnd'],
      [{ ephemeralEnd: Number.NaN }, 'ephemeralEnd'],
      [{ ephemeralStart: 2000, ephemeralEnd: 1999 }, 'ephemeralEnd'],
    ];
    for (const [opts, option] of cases) {
      assert.throws(
        () => new PortAllocator(opts),
        (err: unknown) =>
          err instanceof InvalidOptionError && err.option === option && err.kind === 'invalid',
        JSON.stringify(opts),
      );
    }
    const single = new PortAllocator({ ephemeralStart: 5000, ephemeralEnd: 5000 });
    assert.equal(one(single, { proto: 'udp', hostIP: '::' }).hostPort, 5000);
  });
});

describe('PortAllocator: validation (nothing allocated on error)', () => {
  test('every field is checked, and the error names it', () => {
    const pa = new PortAllocator();
    const ok: PortRequest = { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 80 };
    const bad = (r: Partial<Record<keyof PortRequest, unknown>>) => () =>
      pa.allocate([{ ...ok, ...r } as PortRequest]);
    invalidField(bad({ proto: 'icmp' }), 'proto', /tcp, udp or sctp/);
    invalidField(bad({ proto: 'TCP' }), 'proto');
    invalidField(bad({ proto: undefined }), 'proto');
    invalidField(bad({ hostIP: undefined }), 'hostIP', /not a string/);
    invalidField(bad({ hostIP: '' }), 'hostIP');
    invalidField(bad({ hostIP: 'localhost' }), 'hostIP');
    invalidField(bad({ hostIP: '10.1' }), 'hostIP', /dotted-decimal/);
    invalidField(bad({ hostIP: '010.0.0.1' }), 'hostIP');
    invalidField(bad({ hostIP: '0x7f.0.0.1' }), 'hostIP');
    invalidField(bad({ hostIP: '256.0.0.1' }), 'hostIP');
    invalidField(bad({ hostIP: '10.0.0.0/8' }), 'hostIP');
    invalidField(bad({ hostIP: 'fe80::1%eth0' }), 'hostIP', /zone/);
    invalidField(bad({ hostIP: '::ffff:10.0.0.1' }), 'hostIP', /IPv4-mapped.*10\.0\.0\.1/);
    invalidField(bad({ hostIP: ':::' }), 'hostIP');
    invalidField(bad({ hostPort: -1 }), 'hostPort', /1-65535/);
    invalidField(bad({ hostPort: 65536 }), 'hostPort');
    invalidField(bad({ hostPort: 80.5 }), 'hostPort');
    invalidField(bad({ hostPort: '80' }), 'hostPort');
    invalidField(bad({ hostPortEnd: 70000 }), 'hostPortEnd');
    invalidField(bad({ hostPort: 90, hostPortEnd: 80 }), 'hostPortEnd', /below its first port \(90\)/);
    invalidField(bad({ hostPort: 0, hostPortEnd: 80 }), 'hostPortEnd', /needs its first port/);
    invalidField(bad({ hostPort: undefined, hostPortEnd: 80 }), 'hostPortEnd');
    invalidField(bad({ span: 0 }), 'span');
    invalidField(bad({ span: 2.5 }), 'span');
    invalidField(bad({ span: MAX_PORT_RANGE + 1 }), 'span', /1-10000/);
    invalidField(bad({ hostPort: 65535, span: 2 }), 'span', /past 65535/);
    invalidField(bad({ hostPort: 8000, hostPortEnd: 8010, span: 5 }), 'hostPortEnd', /11 ports.*5/);
    invalidField(bad({ hostPort: 1, hostPortEnd: 1 + MAX_PORT_RANGE }), 'hostPortEnd', /10001 ports/);
    invalidField(() => pa.allocate([null as unknown as PortRequest]), 'request');
    invalidField(() => pa.allocate('x' as unknown as PortRequest[]), 'request');
    // A bad request late in a batch: the good ones before it are not allocated either.
    invalidField(() => pa.allocate([ok, { ...ok, hostPort: 81 }, { ...ok, proto: 'x' as 'tcp' }]), 'proto');
    assert.equal(pa.isAllocated('tcp', '0.0.0.0', 80), false);
    assert.equal(pa.isAllocated('tcp', '0.0.0.0', 81), false);
  });

  test('the largest allowed range and span are accepted', () => {
    const pa = new PortAllocator();
    const a = one(pa, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 1, hostPortEnd: MAX_PORT_RANGE });
    assert.equal(a.hostPort, 1);
    const b = one(pa, { proto: 'udp', hostIP: '0.0.0.0', hostPort: 20000, span: MAX_PORT_RANGE });
    assert.deepEqual([b.hostPort, b.hostPortEnd], [20000, 20000 + MAX_PORT_RANGE - 1]);
  });

  test('error messages say what to do', () => {
    const err = invalidField(
      () => new PortAllocator().allocate([{ proto: 'tcp', hostIP: 'nope', hostPort: 1 }]),
      'hostIP',
    );
    assert.match(err.message, /^invalid port binding: hostIP "nope": .*0\.0\.0\.0 \/ ::/);
  });
});

describe('PortAllocator: conflicts', () => {
  test("Docker's message for a port already allocated", () => {
    const pa = new PortAllocator();
    one(pa, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 8080 });
    const err = conflictOf(() => pa.allocate([{ proto: 'tcp', hostIP: '0.0.0.0', hostPort: 8080 }]));
    assert.equal(err.code, 'ERR_PORT_ALLOCATED');
    assert.equal(err.kind, 'conflict');
    assert.equal(err.proto, 'tcp');
    assert.equal(err.hostIP, '0.0.0.0');
    assert.equal(err.hostPort, 8080);
    assert.equal(err.heldOn, '0.0.0.0');
    assert.match(err.message, /^Bind for 0\.0\.0\.0:8080 failed: port is already allocated \(tcp port 8080/);
    assert.match(err.message, /publish on another host port/);
  });

  test('IPv6 addresses are bracketed in messages', () => {
    const pa = new PortAllocator();
    one(pa, { proto: 'tcp', hostIP: '::', hostPort: 80 });
    const err = conflictOf(() => pa.allocate([{ proto: 'tcp', hostIP: '2001:db8::1', hostPort: 80 }]));
    assert.match(err.message, /^Bind for \[2001:db8::1\]:80 failed: port is already allocated/);
    assert.equal(err.heldOn, '::');
    assert.match(err.message, /held by another binding on ::, which covers 2001:db8::1/);
  });

  test('wildcard vs specific, both ways; different specific addresses coexist', () => {
    const pa = new PortAllocator();
    one(pa, { proto: 'tcp', hostIP: '10.0.0.1', hostPort: 80 });
    one(pa, { proto: 'tcp', hostIP: '10.0.0.2', hostPort: 80 });
    const e1 = conflictOf(() => pa.allocate([{ proto: 'tcp', hostIP: '0.0.0.0', hostPort: 80 }]));
    assert.equal(e1.hostIP, '0.0.0.0');
    assert.ok(['10.0.0.1', '10.0.0.2'].includes(e1.heldOn));
    conflictOf(() => pa.allocate([{ proto: 'tcp', hostIP: '10.0.0.1', hostPort: 80 }]));

    one(pa, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 81 });
    const e2 = conflictOf(() => pa.allocate([{ proto: 'tcp', hostIP: '10.0.0.3', hostPort: 81 }]));
    assert.equal(e2.heldOn, '0.0.0.0');

    // Once the specific ones are released, the wildcard gets the port.
    assert.equal(pa.release({ proto: 'tcp', hostIP: '10.0.0.1', hostPort: 80, hostPortEnd: 80 }), 1);
    conflictOf(() => pa.allocate([{ proto: 'tcp', hostIP: '0.0.0.0', hostPort: 80 }]));
    assert.equal(pa.release({ proto: 'tcp', hostIP: '10.0.0.2', hostPort: 80, hostPortEnd: 80 }), 1);
    assert.equal(one(pa, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 80 }).hostPort, 80);
  });

  test('protocols are independent', () => {
    const pa = new PortAllocator();
    for (const proto of ['tcp', 'udp', 'sctp'] as const) {
      assert.equal(one(pa, { proto, hostIP: '0.0.0.0', hostPort: 53 }).proto, proto);
    }
  });

  test('IPv4 and IPv6 are independent: :: does not cover IPv4', () => {
    const pa = new PortAllocator();
    one(pa, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 80 });
    one(pa, { proto: 'tcp', hostIP: '::', hostPort: 80 });
    one(pa, { proto: 'tcp', hostIP: '::1', hostPort: 81 });
    one(pa, { proto: 'tcp', hostIP: '127.0.0.1', hostPort: 81 });
    conflictOf(() => pa.allocate([{ proto: 'tcp', hostIP: '::1', hostPort: 80 }]));
    conflictOf(() => pa.allocate([{ proto: 'tcp', hostIP: '10.1.2.3', hostPort: 80 }]));
  });

  test('addresses are compared in canonical form', () => {
    const pa = new PortAllocator();
    const a = one(pa, { proto: 'tcp', hostIP: '2001:DB8:0:0::1', hostPort: 80 });
    assert.equal(a.hostIP, '2001:db8::1');
    conflictOf(() => pa.allocate([{ proto: 'tcp', hostIP: '2001:db8::0:1', hostPort: 80 }]));
    one(pa, { proto: 'tcp', hostIP: '0:0::0', hostPort: 81 });
    conflictOf(() => pa.allocate([{ proto: 'tcp', hostIP: '::', hostPort: 81 }]));
    assert.ok(pa.isAllocated('tcp', '::0', 81));
  });

  test('ranges conflict on any overlapping port, and the error names the first one', () => {
    const pa = new PortAllocator();
    one(pa, { proto: 'udp', hostIP: '0.0.0.0', hostPort: 9005 });
    const err = conflictOf(() =>
      pa.allocate([{ proto: 'udp', hostIP: '192.168.1.1', hostPort: 9000, hostPortEnd: 9009, span: 10 }]),
    );
    assert.equal(err.hostPort, 9005);
    assert.equal(err.hostIP, '192.168.1.1');
    for (let p = 9000; p <= 9009; p++) assert.equal(p === 9005, pa.isAllocated('udp', '0.0.0.0', p));
    assert.equal(pa.isAllocated('udp', '192.168.1.1', 9000), false);
  });
});

describe('PortAllocator: all or nothing', () => {
  test('a conflict late in a batch releases what the batch took, and names the binding', () => {
    const pa = new PortAllocator({ ephemeralStart: 40000, ephemeralEnd: 40099 });
    one(pa, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 443 });
    const err = conflictOf(() =>
      pa.allocate([
        { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 80 },
        { proto: 'tcp', hostIP: '0.0.0.0' },
        { proto: 'udp', hostIP: '::', hostPort: 7000, hostPortEnd: 7003, span: 4 },
        { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 8000, hostPortEnd: 8010 },
        { proto: 'tcp', hostIP: '127.0.0.1', hostPort: 443 },
      ]),
    );
    assert.deepEqual([err.proto, err.hostIP, err.hostPort, err.heldOn], ['tcp', '127.0.0.1', 443, '0.0.0.0']);
    // Nothing of the batch is held; the 443 from before is.
    assert.equal(pa.isAllocated('tcp', '0.0.0.0', 80), false);
    for (let p = 7000; p <= 7003; p++) assert.equal(pa.isAllocated('udp', '::', p), false);
    for (let p = 8000; p <= 8010; p++) assert.equal(pa.isAllocated('tcp', '0.0.0.0', p), false);
    assert.equal(pa.isAllocated('tcp', '127.0.0.1', 443), false);
    assert.equal(pa.isAllocated('tcp', '0.0.0.0', 443), true);
    // And the ephemeral cursor is where it was:
    assert.equal(one(pa, { proto: 'tcp', hostIP: '0.0.0.0' }).hostPort, 40000);
  });

  test('requests of one batch conflict with each other', () => {
    const pa = new PortAllocator();
    conflictOf(() =>
      pa.allocate([
        { proto: 'tcp', hostIP: '10.0.0.1', hostPort: 80 },
        { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 80 },
      ]),
    );
    assert.equal(pa.isAllocated('tcp', '10.0.0.1', 80), false);
    assert.equal(pa.isAllocated('tcp', '0.0.0.0', 80), false);
    // Ranges in one batch take different ports.
    const got = pa.allocate([
      { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 8000, hostPortEnd: 8002 },
      { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 8000, hostPortEnd: 8002 },
    ]);
    assert.deepEqual(
      got.map((a) => a.hostPort),
      [8000, 8001],
    );
  });

  test('exhaustion late in a batch rolls back too', () => {
    const pa = new PortAllocator({ ephemeralStart: 5000, ephemeralEnd: 5001 });
    assert.throws(
      () =>
        pa.allocate([
          { proto: 'tcp', hostIP: '0.0.0.0' },
          { proto: 'tcp', hostIP: '0.0.0.0' },
          { proto: 'tcp', hostIP: '0.0.0.0' },
        ]),
      NoAvailablePortError,
    );
    assert.equal(pa.isAllocated('tcp', '0.0.0.0', 5000), false);
    assert.equal(pa.isAllocated('tcp', '0.0.0.0', 5001), false);
    assert.equal(one(pa, { proto: 'tcp', hostIP: '0.0.0.0' }).hostPort, 5000);
  });

  test('an empty batch allocates nothing', () => {
    assert.deepEqual(new PortAllocator().allocate([]), []);
  });
});

describe('PortAllocator: ephemeral ports', () => {
  test('round-robin after the last handed out, wrapping, skipping held ports', () => {
    const pa = new PortAllocator({ ephemeralStart: 100, ephemeralEnd: 104 });
    const t = () => one(pa, { proto: 'tcp', hostIP: '0.0.0.0' });
    const a = [t(), t(), t()];
    assert.deepEqual(
      a.map((x) => x.hostPort),
      [100, 101, 102],
    );
    pa.release(a[0]!);
    // 100 is free again, but the search goes on from 103.
    assert.equal(t().hostPort, 103);
    assert.equal(t().hostPort, 104);
    assert.equal(t().hostPort, 100, 'wraps to the start');
    const err = (() => {
      try {
        t();
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof NoAvailablePortError);
    assert.equal(err.code, 'ERR_NO_AVAILABLE_PORT');
    assert.equal(err.kind, 'conflict');
    assert.equal(err.ephemeral, true);
    assert.deepEqual([err.rangeStart, err.rangeEnd, err.span], [100, 104, 1]);
    assert.match(err.message, /^Bind for 0\.0\.0\.0:100-104 failed: all ports are allocated/);
    assert.match(err.message, /ephemeral range 100-104.*widen the ephemeral range/);
    pa.release({ proto: 'tcp', hostIP: '0.0.0.0', hostPort: 102, hostPortEnd: 102 });
    assert.equal(t().hostPort, 102);
  });

  test('a port held on a specific address is skipped for the wildcard, not for another address', () => {
    const pa = new PortAllocator({ ephemeralStart: 100, ephemeralEnd: 103 });
    one(pa, { proto: 'tcp', hostIP: '10.0.0.1', hostPort: 100 });
    one(pa, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 101 });
    assert.equal(one(pa, { proto: 'tcp', hostIP: '0.0.0.0' }).hostPort, 102);
    // 10.0.0.2 may use 100 (held on 10.0.0.1 only) but not 101 (the wildcard's).
    const pb = new PortAllocator({ ephemeralStart: 100, ephemeralEnd: 103 });
    one(pb, { proto: 'tcp', hostIP: '10.0.0.1', hostPort: 100 });
    one(pb, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 101 });
    assert.equal(one(pb, { proto: 'tcp', hostIP: '10.0.0.2' }).hostPort, 100);
    assert.equal(one(pb, { proto: 'tcp', hostIP: '10.0.0.2' }).hostPort, 102);
    assert.equal(one(pb, { proto: 'tcp', hostIP: '10.0.0.1' }).hostPort, 103);
    // 102 is held on 10.0.0.2 only: free for 10.0.0.1.
    assert.equal(one(pb, { proto: 'tcp', hostIP: '10.0.0.1' }).hostPort, 102);
    assert.throws(() => pb.allocate([{ proto: 'tcp', hostIP: '10.0.0.1' }]), NoAvailablePortError);
    assert.equal(one(pb, { proto: 'tcp', hostIP: '10.0.0.3' }).hostPort, 103);
  });

  test('cursors are per protocol and family', () => {
    const pa = new PortAllocator({ ephemeralStart: 100, ephemeralEnd: 200 });
    assert.equal(one(pa, { proto: 'tcp', hostIP: '0.0.0.0' }).hostPort, 100);
    assert.equal(one(pa, { proto: 'tcp', hostIP: '0.0.0.0' }).hostPort, 101);
    assert.equal(one(pa, { proto: 'udp', hostIP: '0.0.0.0' }).hostPort, 100);
    assert.equal(one(pa, { proto: 'tcp', hostIP: '::' }).hostPort, 100);
    assert.equal(one(pa, { proto: 'tcp', hostIP: '127.0.0.1' }).hostPort, 102);
  });

  test('a span takes consecutive ports that do not cross the end of the range', () => {
    const pa = new PortAllocator({ ephemeralStart: 100, ephemeralEnd: 109 });
    const a = one(pa, { proto: 'tcp', hostIP: '0.0.0.0', span: 3 });
    assert.deepEqual([a.hostPort, a.hostPortEnd], [100, 102]);
    one(pa, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 104 });
    // 103 alone is free before 104: the block goes after it.
    const b = one(pa, { proto: 'tcp', hostIP: '0.0.0.0', span: 3 });
    assert.deepEqual([b.hostPort, b.hostPortEnd], [105, 107]);
    // 108-109 remain at the end, 103 in the middle: no 3 in a row, and no wrapping block.
    const err = (() => {
      try {
        pa.allocate([{ proto: 'tcp', hostIP: '0.0.0.0', span: 3 }]);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof NoAvailablePortError);
    assert.equal(err.span, 3);
    assert.match(err.message, /no 3 consecutive free ports/);
    const c = one(pa, { proto: 'tcp', hostIP: '0.0.0.0', span: 2 });
    assert.deepEqual([c.hostPort, c.hostPortEnd], [108, 109]);
    pa.release(a);
    // Wraps: starts over from 100.
    const d = one(pa, { proto: 'tcp', hostIP: '0.0.0.0', span: 2 });
    assert.deepEqual([d.hostPort, d.hostPortEnd], [100, 101]);
  });

  test('a span larger than the ephemeral range is unavailable', () => {
    const pa = new PortAllocator({ ephemeralStart: 100, ephemeralEnd: 101 });
    assert.throws(() => pa.allocate([{ proto: 'tcp', hostIP: '0.0.0.0', span: 3 }]), NoAvailablePortError);
  });
});

describe('PortAllocator: host ranges', () => {
  test('a single container port takes the lowest free port of the range (-p 8000-8002:80)', () => {
    const pa = new PortAllocator();
    const r: PortRequest = { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 8000, hostPortEnd: 8002 };
    const a = [one(pa, r), one(pa, r), one(pa, r)];
    assert.deepEqual(
      a.map((x) => [x.hostPort, x.hostPortEnd]),
      [
        [8000, 8000],
        [8001, 8001],
        [8002, 8002],
      ],
    );
    const err = (() => {
      try {
        one(pa, r);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof NoAvailablePortError);
    assert.equal(err.ephemeral, false);
    assert.deepEqual([err.rangeStart, err.rangeEnd], [8000, 8002]);
    assert.match(err.message, /^Bind for 0\.0\.0\.0:8000-8002 failed: all ports are allocated/);
    assert.match(err.message, /requested range 8000-8002/);
    pa.release(a[1]!);
    assert.equal(one(pa, r).hostPort, 8001);
  });

  test('hostPortEnd equal to hostPort is one port', () => {
    const pa = new PortAllocator();
    one(pa, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 80, hostPortEnd: 80 });
    conflictOf(() => pa.allocate([{ proto: 'tcp', hostIP: '0.0.0.0', hostPort: 80, hostPortEnd: 80 }]));
  });

  test('a container range takes the whole host range 1:1 (-p 8000-8004:80-84)', () => {
    const pa = new PortAllocator();
    const a = one(pa, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 8000, hostPortEnd: 8004, span: 5 });
    assert.deepEqual([a.hostPort, a.hostPortEnd], [8000, 8004]);
    for (let p = 8000; p <= 8004; p++) assert.ok(pa.isAllocated('tcp', '0.0.0.0', p));
    // A span without an end: consecutive from hostPort (-p 9000:90-92 style, span 3).
    const b = one(pa, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 9000, span: 3 });
    assert.deepEqual([b.hostPort, b.hostPortEnd], [9000, 9002]);
    assert.equal(pa.release(a), 5);
    assert.equal(pa.isAllocated('tcp', '0.0.0.0', 8002), false);
  });
});

describe('PortAllocator: release', () => {
  test('is a no-op (returns 0) for ports not allocated on that address', () => {
    const pa = new PortAllocator();
    const a = one(pa, { proto: 'tcp', hostIP: '10.0.0.1', hostPort: 80 });
    assert.equal(pa.release({ ...a, hostIP: '10.0.0.2' }), 0);
    assert.equal(
      pa.release({ ...a, hostIP: '0.0.0.0' }),
      0,
      'the wildcard does not release a specific address',
    );
    assert.equal(pa.release({ ...a, proto: 'udp' }), 0);
    assert.equal(pa.release({ ...a, hostIP: '::' }), 0);
    assert.equal(pa.release(a), 1);
    assert.equal(pa.release(a), 0, 'a double release does nothing');
    assert.equal(pa.isAllocated('tcp', '10.0.0.1', 80), false);
  });

  test('frees only the allocated ports of a range, counting them', () => {
    const pa = new PortAllocator();
    one(pa, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 10 });
    one(pa, { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 12 });
    assert.equal(pa.release({ proto: 'tcp', hostIP: '0.0.0.0', hostPort: 10, hostPortEnd: 12 }), 2);
  });

  test('validates what it is given', () => {
    const pa = new PortAllocator();
    const a: Allocated = { proto: 'tcp', hostIP: '0.0.0.0', hostPort: 80, hostPortEnd: 80 };
    invalidField(() => pa.release({ ...a, proto: 'x' as 'tcp' }), 'proto');
    invalidField(() => pa.release({ ...a, hostIP: 'x' }), 'hostIP');
    invalidField(() => pa.release({ ...a, hostPort: 0 }), 'hostPort');
    invalidField(() => pa.release({ ...a, hostPortEnd: 79 }), 'hostPortEnd');
    invalidField(() => pa.release({ ...a, hostPortEnd: 80 + MAX_PORT_RANGE }), 'hostPortEnd');
    invalidField(() => pa.release(null as unknown as Allocated), 'request');
    invalidField(() => pa.isAllocated('tcp', '0.0.0.0', 0), 'hostPort');
  });
});

describe('PortAllocator: cost does not grow with allocations', () => {
  /** Median time (ns) of `rounds` runs of `fn` (each `batch` calls). */
  function median(rounds: number, fn: () => void): number {
    const t: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const s = process.hrtime.bigint();
      fn();
      t.push(Number(process.hrtime.bigint() - s));
    }
    t.sort((a, b) => a - b);
    return t[Math.floor(t.length / 2)]!;
  }

  test('allocate+release with 10,000 ports held costs about as much as with none', () => {
    const cycle = (pa: PortAllocator, ip: string, port: number) => () => {
      for (let i = 0; i < 200; i++) {
        const [a] = pa.allocate([{ proto: 'tcp', hostIP: ip, hostPort: port }]);
        pa.release(a!);
        const [b] = pa.allocate([{ proto: 'tcp', hostIP: ip }]);
        pa.release(b!);
      }
    };
    const empty = new PortAllocator();
    const full = new PortAllocator();
    // 10,000 ports: on the wildcard, on 100 specific addresses, and ephemeral ones.
    for (let i = 0; i < 4000; i++) full.allocate([{ proto: 'tcp', hostIP: '0.0.0.0', hostPort: 1000 + i }]);
    for (let i = 0; i < 4000; i++) {
      full.allocate([{ proto: 'tcp', hostIP: `10.0.${i % 100}.1`, hostPort: 10000 + i }]);
    }
    for (let i = 0; i < 2000; i++) full.allocate([{ proto: 'tcp', hostIP: '0.0.0.0' }]);
    let held = 0;
    for (let p = 1; p <= 65535; p++) if (full.isAllocated('tcp', '0.0.0.0', p)) held++;
    for (let i = 0; i < 100; i++) {
      for (let p = 10000; p < 14000; p++) if (full.isAllocated('tcp', `10.0.${i}.1`, p)) held++;
    }
    assert.equal(held, 10000);
    // Warm up both, then compare: a wildcard request must check the specific addresses' ports
    // through the counts, not by walking the addresses.
    for (const [ip, port] of [
      ['0.0.0.0', 40000],
      ['10.0.5.1', 40001],
    ] as const) {
      median(5, cycle(empty, ip, port));
      median(5, cycle(full, ip, port));
      const t0 = median(15, cycle(empty, ip, port));
      const t1 = median(15, cycle(full, ip, port));
      assert.ok(t1 < t0 * 3 + 200_000, `${ip}: ${t1} ns with 10,000 held vs ${t0} ns with none`);
    }
  });

  test('the 10,000th sequential allocation costs about what the first ones did', () => {
    const pa = new PortAllocator();
    const per: number[] = [];
    for (let i = 0; i < 10_000; i += 500) {
      const s = process.hrtime.bigint();
      for (let j = i; j < i + 500; j++) {
        pa.allocate([
          { proto: 'udp', hostIP: '0.0.0.0', hostPort: 1 + j },
          { proto: 'udp', hostIP: '0.0.0.0' },
        ]);
      }
      per.push(Number(process.hrtime.bigint() - s));
    }
    const first = Math.min(...per.slice(1, 4));
    const last = Math.min(...per.slice(-3));
    assert.ok(last < first * 3 + 200_000, `last batches ${last} ns vs early ${first} ns`);
  });
});

describe('parseHostIp', () => {
  test('canonical text, family, wildcard', () => {
    assert.deepEqual(parseHostIp('0.0.0.0'), { family: 4, text: '0.0.0.0', wildcard: true });
    assert.deepEqual(parseHostIp('::'), { family: 6, text: '::', wildcard: true });
    assert.deepEqual(parseHostIp('0::0'), { family: 6, text: '::', wildcard: true });
    assert.deepEqual(parseHostIp('FE80::0:1'), { family: 6, text: 'fe80::1', wildcard: false });
    assert.deepEqual(parseHostIp('127.0.0.1'), { family: 4, text: '127.0.0.1', wildcard: false });
    assert.equal(typeof parseHostIp(42), 'string');
  });
});
