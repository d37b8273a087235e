/**
 * Starts test/helpers/plugin-server.ts as a separate process listening on a unix socket, and talks
 * to it: its state, behaviour settings and faults (Test.* methods), kill and restart.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./plugin-server.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

export interface PluginFault {
  method: string;
  kind: 'kill' | 'hang' | 'garbage' | 'err' | 'reply';
  status?: number;
  message?: string;
  body?: Record<string, unknown>;
  runHandler?: boolean;
  once?: boolean;
}

export interface PluginState {
  calls: { method: string; body: unknown; accept?: string }[];
  networks: Record<string, { bridge: string; gateway?: string; request: Record<string, unknown> }>;
  endpoints: Record<string, { networkId: string; request: Record<string, unknown>; joined?: string }>;
  pools: Record<string, { pool: string; used: string[] }>;
}

export interface TestPluginOptions {
  socket: string;
  /** Keep state in this file across restarts. */
  stateFile?: string;
  implements: string[];
  scope?: 'local' | 'global';
  /** The reply to IpamDriver.GetCapabilities; absent: not implemented (404). */
  ipamCapabilities?: Record<string, unknown>;
}

/** One raw POST over a unix socket; resolves to the parsed JSON reply (or the text). */
export function post(
  socket: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const req = http.request(
      { socketPath: socket, path, method: 'POST', headers: { 'Content-Length': Buffer.byteLength(payload) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export class TestPlugin {
  private proc: ChildProcess | undefined;

  private constructor(readonly options: TestPluginOptions) {}

  static async start(options: TestPluginOptions): Promise<TestPlugin> {
    const p = new TestPlugin(options);
    await p.launch();
    return p;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  private launch(): Promise<void> {
    const child = spawn(process.execPath, ['--import', TSX, SERVER, JSON.stringify(this.options)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.proc = child;
    return new Promise((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', (code, signal) => reject(new Error(`test plugin exited (${code ?? signal})`)));
    });
  }

  async control<T = Record<string, unknown>>(method: string, body: unknown = {}): Promise<T> {
    const r = await post(this.options.socket, `/Test.${method}`, body);
    if (r.status !== 200) throw new Error(`Test.${method}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as T;
  }

  state(): Promise<PluginState> {
    return this.control<PluginState>('State');
  }

  set(settings: Record<string, unknown>): Promise<unknown> {
    return this.control('Set', settings);
  }

  fault(f: PluginFault): Promise<unknown> {
    return this.control('Fault', f);
  }

  clear(): Promise<unknown> {
    return this.control('Clear');
  }

  /** Waits until the process has exited (after a kill fault, or kill()). */
  exited(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => p.once('exit', () => resolve()));
  }

  async kill(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await this.exited();
    }
  }

  /** Starts the process again on the same socket (its state comes back from `stateFile`, if given). */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.kill();
  }
}
