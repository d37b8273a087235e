/**
 * Real traffic for kernel tests: tiny TCP/UDP servers and clients running inside a network
 * namespace (by path, through nsenter) as child processes. Servers answer "from <client address>"
 * so a test sees the source address the server saw (NAT checks).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';

export type Proto = 'tcp' | 'udp';

const SERVER = String.raw`
const [proto, host, port] = process.argv.slice(1);
if (proto === 'tcp') {
  const srv = require('net').createServer((s) => { s.on('error', () => {}); s.end('from ' + s.remoteAddress.replace(/^::ffff:/, '')); });
  srv.listen(Number(port), host, () => console.log('ready'));
} else {
  const s = require('dgram').createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.on('message', (m, r) => s.send('from ' + r.address, r.port, r.address));
  s.bind(Number(port), host, () => console.log('ready'));
}`;

const CLIENT = String.raw`
const [proto, host, port, ms] = process.argv.slice(1);
const fail = (why) => { console.log('FAIL ' + why); process.exit(0); };
setTimeout(() => fail('timeout'), Number(ms));
if (proto === 'tcp') {
  const c = require('net').connect(Number(port), host);
  let out = '';
  c.on('data', (d) => (out += d)); c.on('end', () => { console.log(out); process.exit(0); });
  c.on('error', (e) => fail(e.code));
} else {
  const s = require('dgram').createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.on('message', (m) => { console.log(String(m)); process.exit(0); });
  s.on('error', (e) => fail(e.code));
  const send = () => s.send('hi', Number(port), host);
  send(); setInterval(send, 200);
}`;

function argv(nsPath: string | undefined, script: string, args: string[]): [string, string[]] {
  const node = [process.execPath, '-e', script, ...args];
  return nsPath ? ['nsenter', [`--net=${nsPath}`, ...node]] : [node[0] ?? 'node', node.slice(1)];
}

export interface Server {
  stop(): void;
}

/** Starts a server in the namespace and waits until it listens. */
export function startServer(
  nsPath: string | undefined,
  proto: Proto,
  host: string,
  port: number,
): Promise<Server> {
  const [cmd, args] = argv(nsPath, SERVER, [proto, host, String(port)]);
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (d) => {
      err += d;
    });
    child.stdout?.once('data', () => resolve({ stop: () => child.kill('SIGKILL') }));
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${err}`)));
  });
}

/** One request; resolves to the server's answer ("from 10.0.0.2") or "FAIL <why>". */
export function request(
  nsPath: string | undefined,
  proto: Proto,
  host: string,
  port: number,
  timeoutMs = 1500,
): Promise<string> {
  const [cmd, args] = argv(nsPath, CLIENT, [proto, host, String(port), String(timeoutMs)]);
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: timeoutMs + 5000 }, (e, stdout, stderr) =>
      e ? reject(new Error(`${e.message}: ${stderr}`)) : resolve(stdout.trim()),
    ),
  );
}
