/**
 * Headless Chromium driven over the Chrome DevTools Protocol (a WebSocket, `ws`): one browser
 * process for many pages; each page records what went wrong while it ran — console errors,
 * uncaught exceptions, browser log errors (a 404 asset is one) and failed or ≥ 400 requests — and
 * can evaluate expressions (`Chart.getChart(canvas).data`) and take full-page screenshots.
 * The browser (with its helper processes: its own process group) is ended on close().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { CHROMIUM_BIN, chromiumArgs } from './tools.js';

type Params = Record<string, unknown>;
interface Message { id?: number; method?: string; params?: Params; result?: Params; error?: { message: string }; sessionId?: string }

/** One tab. */
export interface Page {
  /** Console errors, exceptions and browser log errors seen so far. */
  readonly errors: string[];
  /** Requests that failed or answered ≥ 400 (`METHOD url → status|reason`). */
  readonly failedRequests: string[];
  /** Navigates and waits for the load event. */
  goto(url: string): Promise<void>;
  /** Evaluates `expression` in the page (promises awaited); returns its value (JSON-able). */
  evaluate<T>(expression: string): Promise<T>;
  /** Polls `expression` until it is truthy; returns its value. */
  waitFor<T>(expression: string, timeoutMs?: number): Promise<T>;
  /** Saves a PNG of the whole page. */
  screenshot(path: string): Promise<Buffer>;
  close(): Promise<void>;
}

export interface Browser {
  newPage(opts?: { width?: number; height?: number }): Promise<Page>;
  close(): Promise<void>;
}

/** Starts headless Chromium with a DevTools port and connects to it. */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'mrcnn-cdp-'));
  // its own process group: close() ends the browser and its helper processes (renderers, GPU,
  // zygote) together; they would otherwise hold the stderr pipe open for a minute
  const child: ChildProcess = spawn(CHROMIUM_BIN, [...chromiumArgs(profile), '--remote-debugging-port=0', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  const wsUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chromium did not open its DevTools port: ${stderr.slice(-2000)}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`chromium exited ${code}: ${stderr.slice(-2000)}`)); });
  });
  const ws = new WebSocket(wsUrl, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });

  let nextId = 1;
  const pending = new Map<number, { resolve: (r: Params) => void; reject: (e: Error) => void; method: string }>();
  const listeners = new Map<string, Array<(method: string, params: Params) => void>>();
  ws.on('message', (raw: Buffer) => {
    const msg = JSON.parse(raw.toString()) as Message;
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(`${p.method}: ${msg.error.message}`));
      else p?.resolve(msg.result ?? {});
    } else if (msg.method) {
      for (const fn of listeners.get(msg.sessionId ?? '') ?? []) fn(msg.method, msg.params ?? {});
    }
  });
  const send = (method: string, params: Params = {}, sessionId?: string): Promise<Params> => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject, method });
    ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
  });

  async function newPage(opts: { width?: number; height?: number } = {}): Promise<Page> {
    const { targetId } = await send('Target.createTarget', { url: 'about:blank' }) as { targetId: string };
    const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true }) as { sessionId: string };
    const errors: string[] = [];
    const failedRequests: string[] = [];
    const requests = new Map<string, string>();
    let loaded: (() => void) | null = null;
    listeners.set(sessionId, [(method, p) => {
      if (method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert')) {
        errors.push(`console.${String(p.type)}: ${(p.args as Array<{ value?: unknown; description?: string }>).map((a) => a.description ?? String(a.value)).join(' ')}`);
      } else if (method === 'Runtime.exceptionThrown') {
        const d = p.exceptionDetails as { text: string; exception?: { description?: string } };
        errors.push(`exception: ${d.exception?.description ?? d.text}`);
      } else if (method === 'Log.entryAdded') {
        const e = p.entry as { level: string; text: string; url?: string };
        if (e.level === 'error') errors.push(`log: ${e.text}${e.url ? ` (${e.url})` : ''}`);
      } else if (method === 'Network.requestWillBeSent') {
        const r = p.request as { method: string; url: string };
        requests.set(p.requestId as string, `${r.method} ${r.url}`);
      } else if (method === 'Network.responseReceived') {
        const r = p.response as { status: number; url: string };
        if (r.status >= 400) failedRequests.push(`${requests.get(p.requestId as string) ?? r.url} → ${r.status}`);
      } else if (method === 'Network.loadingFailed') {
        failedRequests.push(`${requests.get(p.requestId as string) ?? '?'} → ${String(p.errorText)}`);
      } else if (method === 'Page.loadEventFired') {
        loaded?.();
      }
    }]);
    const s = (method: string, params: Params = {}): Promise<Params> => send(method, params, sessionId);
    await Promise.all([s('Page.enable'), s('Runtime.enable'), s('Log.enable'), s('Network.enable')]);
    await s('Emulation.setDeviceMetricsOverride', { width: opts.width ?? 1280, height: opts.height ?? 900, deviceScaleFactor: 1, mobile: false });

    const evaluate = async <T>(expression: string): Promise<T> => {
      const r = await s('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }) as { result: { value?: unknown }; exceptionDetails?: { text: string; exception?: { description?: string } } };
      if (r.exceptionDetails) throw new Error(`in page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
      return r.result.value as T;
    };
    return {
      errors,
      failedRequests,
      async goto(url) {
        const done = new Promise<void>((resolve) => { loaded = resolve; });
        const nav = await s('Page.navigate', { url }) as { errorText?: string };
        if (nav.errorText) throw new Error(`navigation to ${url} failed: ${nav.errorText}`);
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${url}: no load event in 60 s`)), 60_000); });
        try {
          await Promise.race([done, timeout]);
        } finally {
          clearTimeout(timer);
        }
      },
      evaluate,
      async waitFor<T>(expression: string, timeoutMs = 60_000): Promise<T> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const v = await evaluate<T>(expression);
          if (v) return v;
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
          await sleep(100);
        }
      },
      async screenshot(path) {
        const { data } = await s('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }) as { data: string };
        const png = Buffer.from(data, 'base64');
        writeFileSync(path, png);
        return png;
      },
      async close() {
        listeners.delete(sessionId);
        await send('Target.closeTarget', { targetId }).catch(() => undefined);
      },
    };
  }

  return {
    newPage,
    async close() {
      ws.terminate();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        const group = (signal: NodeJS.Signals): void => {
          try { process.kill(-child.pid!, signal); } catch { /* already gone */ }
        };
        group('SIGTERM');
        const timer = setTimeout(() => group('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      child.stderr?.destroy();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

