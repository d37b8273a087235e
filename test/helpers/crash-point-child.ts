/**
 * A process that stops dead at one chosen point of a connect or a disconnect, for the
 * durability test to kill -9 it exactly there. It uses the real bridge driver and the real store;
 * the only test code is a wrapper on one method of the driver (or of the store) that, at the
 * chosen point, prints `at <point>` and then never returns.
 *
 * argv: <runDir> <dataDir> <connect|disconnect> <point>
 * points: `before:<driver method>`, `after:<driver method>`, `commit:<n>` (the operation's n-th
 * store transaction is never made), `committed:<n>` (it is made, then the process hangs).
 */
import type { NetworkDriver } from '../../src/driver-api/driver.ts';
import { NetworkController } from '../../src/index.ts';
import { LmdbStore } from '../../src/store/index.ts';

const [runDir, dataDir, op, point] = process.argv.slice(2);
if (!runDir || !dataDir || !op || !point) {
  throw new Error('usage: crash-point-child <runDir> <dataDir> <connect|disconnect> <point>');
}
const store = await LmdbStore.open({ dir: dataDir });
const ctl = await NetworkController.create({ runDir, store });
const net =
  ctl.networkByName('cp') ??
  (await ctl.newNetwork('bridge', 'cp', { ipam: { config: [{ subnet: '10.78.0.0/24' }] } }));
const connect = () =>
  net.connect('c1', {
    endpointName: 'c1',
    endpoint: { portBindings: [{ proto: 'tcp', port: 80, hostPort: 8081 }] },
    join: { hostname: 'c1' },
  });
if (op === 'disconnect') await connect();

const hang = (): Promise<never> => {
  console.log(`at ${point}`);
  return new Promise<never>(() => {
    setInterval(() => {}, 1000);
  });
};

const [when, what] = point.split(':') as [string, string];
if (when === 'commit' || when === 'committed') {
  const real = store.transaction.bind(store);
  let n = 0;
  store.transaction = async (ops, options) => {
    n++;
    if (n === Number(what) && when === 'commit') return hang();
    const r = await real(ops, options);
    if (n === Number(what)) return hang();
    return r;
  };
} else {
  const driver = (await ctl.drivers.networkDriver('bridge')) as unknown as Record<
    string,
    (...a: unknown[]) => Promise<unknown>
  >;
  const real = driver[what];
  if (typeof real !== 'function') throw new Error(`the bridge driver has no ${what}`);
  driver[what] = async (...args: unknown[]) => {
    if (when === 'before') return hang();
    await real.apply(driver as unknown as NetworkDriver, args);
    return hang();
  };
}

if (op === 'connect') await connect();
else await net.endpointByName('c1')?.leaveAndDelete();
console.log('finished without reaching the point');
process.exit(3);
