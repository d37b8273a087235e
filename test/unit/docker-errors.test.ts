import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DaemonError } from '../../src/cli/client.ts';
import { cliHint } from '../../src/cli/report.ts';
import { dockerAnswer, dockerErrorResponse, isNativePath } from '../../src/daemon/api/docker-errors.ts';
import { isDockerApiPath, NotServedError } from '../../src/daemon/api/errors.ts';
import { errorResponse } from '../../src/errors/http.ts';
import {
  ActiveEndpointsError,
  AddressInUseError,
  EndpointExistsError,
  InvalidOptionError,
  NetworkNameError,
  NetworkTypeError,
  NoMoreSubnetsError,
  PoolExhaustedError,
  PoolOverlapError,
  PredefinedNetworkError,
  UnknownIpamDriverError,
  UnknownNetworkError,
} from '../../src/index.ts';

describe("library errors on Docker's routes: dockerd's status and text", () => {
  const cases: [Error, number, string][] = [
    [new UnknownNetworkError('nope'), 404, 'network nope not found'],
    [new NetworkTypeError('foo', ['bridge']), 404, 'plugin "foo" not found'],
    [new UnknownIpamDriverError('bar', ['default']), 404, 'plugin "bar" not found'],
    [new NetworkNameError('web'), 409, 'network with name web already exists'],
    [
      new PoolOverlapError('LocalDefault', '10.0.0.0/24', '10.0.0.0/16'),
      403,
      'invalid pool request: Pool overlaps with other one on this address space',
    ],
    [new AddressInUseError('10.0.0.5', '10.0.0.0/24'), 403, 'Address already in use'],
    [new EndpointExistsError('c1', 'web'), 403, 'endpoint with name c1 already exists in network web'],
    [
      new NoMoreSubnetsError('LocalDefault', 'IPv4'),
      400,
      'all predefined address pools have been fully subnetted',
    ],
    [
      new ActiveEndpointsError('web', ['a', 'b']),
      403,
      'error while removing network: network web has active endpoints (name:"a", name:"b")',
    ],
    [
      new PredefinedNetworkError('bridge', 'remove'),
      403,
      'bridge is a pre-defined network and cannot be removed',
    ],
    [
      new PredefinedNetworkError('host', 'create'),
      403,
      'operation is not permitted on predefined host network ',
    ],
  ];
  for (const [err, status, message] of cases) {
    test(`${err.constructor.name}: ${status} ${JSON.stringify(message)}`, () => {
      assert.deepEqual(dockerAnswer(err), { status, message });
      assert.deepEqual(dockerErrorResponse(err), { status, body: { message } });
    });
  }

  test("others keep dnet's status and message (the library's)", () => {
    for (const err of [
      new InvalidOptionError('mtu', 'x', 'not a number'),
      new PoolExhaustedError('LocalDefault/10.0.0.0/30', '10.0.0.0/30'),
      new PredefinedNetworkError('host', 'connect'),
      new Error('boom'),
    ]) {
      assert.equal(dockerAnswer(err), undefined);
      assert.deepEqual(dockerErrorResponse(err), errorResponse(err));
    }
  });

  test("dnet's own routes are told apart", () => {
    for (const p of ['/sandboxes', '/sandboxes/x', '/attachments/a/eth0']) assert.ok(isNativePath(p), p);
    for (const p of ['/networks', '/sandboxesx', '/_ping', '/']) assert.ok(!isNativePath(p), p);
  });
});

describe('routes of Docker API dnet does not serve', () => {
  test('are Docker paths (501 NotServedError); others are not', () => {
    for (const p of ['/containers/json', '/system/df', '/images/x/json', '/volumes', '/swarm', '/build'])
      assert.ok(isDockerApiPath(p), p);
    for (const p of ['/nope', '/', '/networksx', '/containersx/json']) assert.ok(!isDockerApiPath(p), p);
    const e = new NotServedError('GET', '/containers/json');
    assert.equal(errorResponse(e).status, 501);
    assert.match(e.message, /^dnet serves networks and sandboxes only: GET \/containers\/json /);
  });
});

describe("the dnet CLI's hints after dockerd's text", () => {
  test('for the texts it knows, none otherwise', () => {
    assert.equal(
      cliHint(new DaemonError(404, 'network nope not found')),
      'list the networks with dnet network ls',
    );
    assert.match(cliHint(new DaemonError(403, 'Address already in use')), /omit it/);
    assert.match(
      cliHint(
        new DaemonError(403, 'invalid pool request: Pool overlaps with other one on this address space'),
      ),
      /subnet/,
    );
    assert.match(
      cliHint(new DaemonError(403, 'endpoint with name c already exists in network n')),
      /connected/,
    );
    assert.match(
      cliHint(new DaemonError(400, 'all predefined address pools have been fully subnetted')),
      /--subnet/,
    );
    assert.equal(
      cliHint(new DaemonError(403, 'bridge is a pre-defined network and cannot be removed')),
      'remove only networks you created',
    );
    assert.equal(
      cliHint(
        new DaemonError(403, 'error while removing network: network web has active endpoints (name:"a")'),
      ),
      'disconnect them first (dnet network disconnect web <container>)',
    );
    assert.equal(cliHint(new DaemonError(404, 'plugin "x" not found')), '');
    assert.equal(cliHint(new DaemonError(500, 'network x not found')), '');
  });
});
