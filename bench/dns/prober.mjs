// The DNS bench's client, run inside the probe container's namespace (plain Node, no imports of
// the project). argv: server address, then the stable names (comma separated), then the
// background rate (queries per second).
//
// - Background load: `rate` A queries per second for the stable names (present for the whole
//   run); a query with no reply in 1 s is LOST, a reply that is not NOERROR with an address is
//   WRONG.
// - Probes: each stdin line is a name; it is asked every millisecond (a new query each time)
//   until an answer with an address comes, and `ok <name> <µs since the line came>` is written
//   (or `fail <name>` after 5 s).
// - stdin line `END`: prints `stats <sent> <lost> <wrong>` and exits.
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';

const [server, stableArg, rateArg] = process.argv.slice(2);
const stable = stableArg ? stableArg.split(',') : [];
const rate = Number(rateArg ?? 0);
const sock = dgram.createSocket('udp4');
const pending = new Map(); // id → { name, at, probe }
let nextId = 1;
let sent = 0;
let lost = 0;
let wrong = 0;

function query(id, name) {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(0x0100, 2);
  head.writeUInt16BE(1, 4);
  return Buffer.concat([head, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

function send(name, probe) {
  const id = nextId;
  nextId = nextId === 65535 ? 1 : nextId + 1;
  pending.set(id, { name, at: Date.now(), probe });
  sock.send(query(id, name), 53, server);
  return id;
}

const probes = new Map(); // name → { timer, deadline, start }
sock.on('message', (msg) => {
  const id = msg.readUInt16BE(0);
  const p = pending.get(id);
  if (!p) return;
  pending.delete(id);
  const rcode = msg[3] & 15;
  const answers = msg.readUInt16BE(6);
  const good = rcode === 0 && answers > 0;
  if (p.probe) {
    const pr = probes.get(p.name);
    if (good && pr) {
      clearInterval(pr.timer);
      probes.delete(p.name);
      process.stdout.write(`ok ${p.name} ${Math.round((performance.now() - pr.start) * 1000)}\n`);
    }
  } else if (!good) wrong++;
});

// Pending background queries older than 1 s are lost; probe queries are just retried.
setInterval(() => {
  const now = Date.now();
  for (const [id, p] of pending) {
    if (now - p.at < 1000) continue;
    pending.delete(id);
    if (!p.probe) lost++;
  }
}, 100);

let load;
if (rate > 0 && stable.length > 0) {
  let i = 0;
  const perTick = Math.max(1, Math.round(rate / 100));
  load = setInterval(() => {
    for (let k = 0; k < perTick; k++) {
      send(stable[i++ % stable.length], false);
      sent++;
    }
  }, 10);
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const name = line.trim();
  if (name === 'END') {
    // Stop the load; what is still unanswered 1.2 s later is lost.
    clearInterval(load);
    setTimeout(() => {
      const left = [...pending.values()].filter((p) => !p.probe).length;
      process.stdout.write(`stats ${sent} ${lost + left} ${wrong}\n`);
      process.exit(0);
    }, 1200);
    return;
  }
  if (name === '') return;
  const deadline = Date.now() + 5000;
  const start = performance.now();
  send(name, true);
  const timer = setInterval(() => {
    if (Date.now() > deadline) {
      clearInterval(timer);
      probes.delete(name);
      process.stdout.write(`fail ${name}\n`);
      return;
    }
    send(name, true);
  }, 1);
  probes.set(name, { timer, deadline, start });
});
