// A real headless Chromium (Debian's `chromium`) for pages a person reads, driven over the
// DevTools protocol with the `ws` client the tests already use: load a URL, wait for the
// load event, evaluate an expression in the page. What the page shows is what the
// browser's layout computed (innerText leaves out what CSS hides), not the HTML sent.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { findTool } from './require-tool.js';

export const CHROMIUM = findTool('chromium', 'CHROMIUM');
export const CHROMIUM_INSTALL = 'apt-get install chromium';

interface Message {
  id?: number;
  method?: string;
  sessionId?: string;
  result?: Record<string, unknown>;
  error?: { message: string };
}

export interface Browser {
  /** Loads `url` in a new tab and returns `expression` evaluated there, by value. */
  evaluate<T>(url: string, expression: string): Promise<T>;
  close(): Promise<void>;
}

function devtoolsUrl(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => {
      reject(new Error(`chromium printed no DevTools URL within ${timeoutMs} ms:\n${err}`));
    }, timeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString('utf8');
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chromium exited with ${String(code)} before listening:\n${err}`));
    });
  });
}

/** Starts a headless Chromium on a throwaway profile; close() stops it by its pid. */
export async function launchChromium(path: string, timeoutMs = 20_000): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'figway-chromium-'));
  const child = spawn(
    path,
    [
      '--headless=new',
      // Root in a container has no user namespace for the sandbox.
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--no-default-browser-check',
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const socket = new WebSocket(await devtoolsUrl(child, timeoutMs));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => {
      resolve();
    });
    socket.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  const listeners: ((m: Message) => void)[] = [];
  socket.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString('utf8')) as Message;
    if (message.id !== undefined) {
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error.message));
      else waiter?.resolve(message);
    } else {
      for (const listen of [...listeners]) listen(message);
    }
  });
  const call = (method: string, params: object = {}, sessionId?: string) =>
    new Promise<Message>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params, ...(sessionId && { sessionId }) }));
    });
  const event = (method: string, sessionId: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listen = (m: Message) => {
        if (m.method === method && m.sessionId === sessionId) {
          clearTimeout(timer);
          listeners.splice(listeners.indexOf(listen), 1);
          resolve();
        }
      };
      listeners.push(listen);
    });

  return {
    async evaluate<T>(url: string, expression: string): Promise<T> {
      const target = await call('Target.createTarget', { url: 'about:blank' });
      const targetId = target.result?.targetId as string;
      const attached = await call('Target.attachToTarget', { targetId, flatten: true });
      const sessionId = attached.result?.sessionId as string;
      await call('Page.enable', {}, sessionId);
      const loaded = event('Page.loadEventFired', sessionId);
      await call('Page.navigate', { url }, sessionId);
      await loaded;
      const result = await call(
        'Runtime.evaluate',
        { expression, returnByValue: true, awaitPromise: true },
        sessionId,
      );
      await call('Target.closeTarget', { targetId });
      const value = result.result?.result as { value?: T } | undefined;
      return value?.value as T;
    },
    async close() {
      socket.close();
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null) resolve();
        else
          child.once('exit', () => {
            resolve();
          });
      });
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
