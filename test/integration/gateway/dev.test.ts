import { describe, expect, it } from '@jest/globals';
import type { ShadowReport } from '../../../src/gateway/shadow/registry.js';
import { eventually, send, spawnCli } from './helpers.js';

describe('figway dev', () => {
  it('starts a demo monolith, new service and gateway, splits /api/orders by user, reports, and stops on Ctrl-C', async () => {
    const cli = spawnCli([
      'dev',
      '--port',
      '0',
      '--admin-port',
      '0',
      '--monolith-port',
      '0',
      '--service-port',
      '0',
      '--report-seconds',
      '1',
    ]);
    try {
      let gateway = '';
      let admin = '';
      await eventually(() => {
        const text = cli.stdout();
        const gw = /gateway\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(text);
        const ad = /admin\s+(http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(text);
        expect(text).toContain('Ctrl-C stops');
        gateway = gw?.[1] ?? '';
        admin = ad?.[1] ?? '';
      }, 30_000);
      expect(cli.stdout()).toContain(`curl -i ${gateway}/api/orders -H 'x-user-id: alice'`);

      let toNew = 0;
      const users = 400;
      for (let i = 0; i < users; i += 1) {
        const reply = await send(`${gateway}/api/orders/${i}`, {
          headers: { 'x-user-id': `user-${i}` },
        });
        expect(reply.status).toBe(200);
        const side = reply.headers['x-figway-backend'];
        expect(reply.json()).toMatchObject({ servedBy: side });
        if (side === 'orders') toNew += 1;
      }
      expect(Math.abs((100 * toNew) / users - 30)).toBeLessThanOrEqual(6);
      expect((await send(`${gateway}/products`)).headers['x-figway-backend']).toBe('monolith');
      expect(
        (await send(`${gateway}/api/orders`, { headers: { 'x-figway-force': 'new' } })).headers[
          'x-figway-backend'
        ],
      ).toBe('orders');
      expect((await send(`${admin}/readyz`)).status).toBe(200);

      // The catalog route is cached: the second answer comes from the gateway.
      expect(cli.stdout()).toContain(`curl -si ${gateway}/api/catalog `);
      const catalog = await send(`${gateway}/api/catalog`);
      expect(catalog.headers['x-figway-cache']).toBe('miss');
      const cached = await send(`${gateway}/api/catalog`);
      expect(cached.headers['x-figway-cache']).toBe('hit');
      expect(cached.headers.age).toBeDefined();
      expect(cached.body).toBe(catalog.body);

      // Shadowing is on: the printed /shadow line shows the one real difference, the
      // monolith's ever-changing timestamp as noise.
      expect(cli.stdout()).toContain(`curl -s ${admin}/shadow `);
      await eventually(async () => {
        const shadow = (await send(`${admin}/shadow`)).json<ShadowReport>();
        const route = shadow.routes[0];
        expect(route?.compared).toBe(users - toNew);
        expect(route?.differences.map((f) => f.field)).toEqual(['$.total']);
        expect(route?.noise.map((f) => f.field)).toEqual(['$.timestamp']);
      });

      // The live count shows both sides once the counts change.
      await eventually(() => {
        expect(cli.stdout()).toContain(`new service ${toNew + 1}`);
      }, 10_000);

      // The composed route: one answer from both demo servers, each part asked once.
      expect(cli.stdout()).toContain(`curl -s ${gateway}/api/orders/42/summary `);
      const summary = await send(`${gateway}/api/orders/42/summary`);
      expect(summary.status).toBe(200);
      expect(summary.json()).toMatchObject({
        order: { servedBy: 'orders', path: '/api/orders/42' },
        invoice: { servedBy: 'monolith', path: '/legacy/invoices/42' },
      });

      // Access control, as the printed curl lines show it: an API key, then its budget.
      const partner = `${gateway}/api/partner/orders`;
      expect(cli.stdout()).toContain(`curl -i ${partner} -H 'x-api-key: demo-partner-key'`);
      expect((await send(partner)).json()).toMatchObject({ reason: 'api-key-missing' });
      const keyed = { headers: { 'x-api-key': 'demo-partner-key' } };
      const statuses: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        const reply = await send(partner, keyed);
        statuses.push(reply.status);
        if (i === 0) expect(reply.headers.ratelimit).toMatch(/^"partner-api";r=3;t=[12]$/);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 429]);

      cli.child.kill('SIGINT');
      expect(await cli.exited).toBe(0);
      expect(cli.stdout()).toContain(
        `stopped. served: monolith ${users - toNew + 3}, new service ${toNew + 2 + 4}`,
      );
    } finally {
      cli.child.kill('SIGKILL');
    }
  }, 90_000);
});
