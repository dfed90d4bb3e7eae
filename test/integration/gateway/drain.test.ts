import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiRoute, eventually, send, spawnCli, startUpstream, type Upstream } from './helpers.js';

describe('SIGTERM', () => {
  let slow: Upstream;
  let dir: string;

  beforeAll(async () => {
    slow = await startUpstream('slow', (req, res) => {
      req.resume();
      setTimeout(() => res.end('done'), 1500);
    });
    dir = mkdtempSync(join(tmpdir(), 'figway-drain-'));
  });
  afterAll(async () => {
    await slow.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('turns unready, stops accepting, lets in-flight requests finish, and exits 0', async () => {
    const file = join(dir, 'apiroute.yaml');
    writeFileSync(file, apiRoute('    []\n'));
    const cli = spawnCli([
      'gateway',
      '--config',
      file,
      '--port',
      '0',
      '--admin-port',
      '0',
      '--host',
      '127.0.0.1',
      '--resolve',
      `legacy=${slow.url}`,
      '--drain-seconds',
      '20',
    ]);
    try {
      const listening = await cli.waitForLine((l) => l.message === 'gateway listening');
      const url = `http://127.0.0.1:${String(listening.port)}`;
      const admin = `http://127.0.0.1:${String(listening.adminPort)}`;
      expect((await send(`${admin}/readyz`, { agent: false })).status).toBe(200);

      const inFlight = Array.from({ length: 5 }, (_, i) =>
        send(`${url}/slow/${i}`, { agent: false }),
      );
      await eventually(() => {
        expect(slow.seen.length).toBe(5);
      });
      cli.child.kill('SIGTERM');
      await cli.waitForLine((l) => l.message === 'draining');
      const ready = await send(`${admin}/readyz`, { agent: false });
      expect(ready.status).toBe(503);
      expect(ready.json()).toMatchObject({ reason: 'draining' });
      await expect(send(`${url}/late`, { agent: false })).rejects.toThrow(/ECONNREFUSED/);

      const replies = await Promise.all(inFlight);
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(replies.map((r) => r.body)).toEqual(['done', 'done', 'done', 'done', 'done']);
      expect(await cli.exited).toBe(0);
      expect(cli.lines.some((l) => l.message === 'stopped: every in-flight request finished')).toBe(
        true,
      );
    } finally {
      cli.child.kill('SIGKILL');
    }
  }, 60_000);
});
