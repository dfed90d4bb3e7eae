import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent } from 'node:http';
import {
  apiRoute,
  eventually,
  LogLines,
  metricsOf,
  sample,
  send,
  startTestGateway,
  startUpstream,
  type TestGateway,
  type Upstream,
} from './helpers.js';

const config = (service: string, weight: number) =>
  apiRoute(`
    - name: orders-api
      match: { path: { type: PathPrefix, value: /api/orders } }
      backends:
        - { service: ${service}, port: 80, weight: ${weight} }
        - { monolith: true, weight: ${100 - weight} }
      cohort: { header: x-user-id }
`);

describe('hot reload', () => {
  let legacy: Upstream;
  let orders: Upstream;
  let ordersV2: Upstream;
  let gw: TestGateway;
  const logs = new LogLines();

  beforeAll(async () => {
    // Upstreams answer after a short delay so reloads land while requests are in flight.
    const delayed = (name: string) =>
      startUpstream(name, (req, res, up) => {
        req.resume();
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(up.name);
        }, 2);
      });
    legacy = await delayed('legacy');
    orders = await delayed('orders');
    ordersV2 = await delayed('orders-v2');
    gw = await startTestGateway(
      config('orders', 0),
      { legacy: legacy.url, orders: orders.url, 'orders-v2': ordersV2.url },
      { logStream: logs },
    );
  });
  afterAll(async () => {
    await gw.close();
    for (const u of [legacy, orders, ordersV2]) await u.close();
  });

  it('applies new configs atomically under concurrent load with zero failed requests', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const failures: string[] = [];
    let completed = 0;
    let stop = false;
    const deadline = Date.now() + 20_000;
    const worker = async (w: number) => {
      for (let i = 0; !stop && i < 5000 && Date.now() < deadline; i += 1) {
        try {
          const reply = await send(`${gw.url}/api/orders/${i}`, {
            agent,
            headers: { 'x-user-id': `u${w}-${i % 50}` },
          });
          if (reply.status !== 200) failures.push(`${reply.status} ${reply.body}`);
        } catch (error) {
          failures.push((error as Error).message);
        }
        completed += 1;
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    // Weights up, a switch to another Service (new pool; the old one closes while busy), and back.
    const steps: [string, number][] = [
      ['orders', 20],
      ['orders', 50],
      ['orders-v2', 50],
      ['orders-v2', 80],
      ['orders', 80],
      ['orders', 100],
    ];
    for (const [service, weight] of steps) {
      const before = completed;
      gw.writeConfig(config(service, weight));
      await eventually(() => {
        expect(gw.gateway.table?.routes[0]?.backends[0]?.service).toBe(service);
        expect(gw.gateway.table?.routes[0]?.newServicePercent).toBe(weight);
      });
      // Let traffic run on each config before the next change.
      await eventually(() => {
        expect(completed - before).toBeGreaterThan(100);
      }, 10_000);
    }
    stop = true;
    await load;
    agent.destroy();
    expect(failures).toEqual([]);
    expect(completed).toBeGreaterThan(600);
    // The last config (100% new) is the one in force.
    for (let i = 0; i < 20; i += 1) {
      const reply = await send(`${gw.url}/api/orders`, { headers: { 'x-user-id': `user-${i}` } });
      expect(reply.body).toBe('orders');
    }
    const text = await metricsOf(gw);
    expect(sample(text, 'figway_gateway_config_reloads_total{result="success"}')).toBe(
      1 + steps.length,
    );
    expect(sample(text, 'figway_gateway_route_new_service_weight{route="orders-api"}')).toBe(100);
    // orders-v2 left the config: its series went with it.
    expect(text).not.toContain('backend="orders-v2"');
    expect(logs.lines.filter((l) => l.message === 'config applied')).toHaveLength(1 + steps.length);
  }, 60_000);

  it('rejects an invalid config, logs its field errors, counts it, and keeps serving the last good one', async () => {
    const hash = gw.gateway.hash;
    const readyBefore = (await send(`${gw.adminUrl}/readyz`)).json();
    gw.writeConfig(config('orders', 100).replace('weight: 100', 'weight: 150'));
    await eventually(async () => {
      expect(
        sample(await metricsOf(gw), 'figway_gateway_config_reloads_total{result="invalid"}'),
      ).toBe(1);
    });
    expect(gw.gateway.hash).toBe(hash);
    const ready = await send(`${gw.adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual(readyBefore);
    const reply = await send(`${gw.url}/api/orders`, { headers: { 'x-user-id': 'someone' } });
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('orders');
    const rejected = logs.lines.find(
      (l) => l.message === 'config rejected, keeping the config in use',
    );
    expect(rejected).toMatchObject({ level: 'error', hashInUse: hash });
    expect(JSON.stringify(rejected?.fieldErrors)).toContain('spec.routes[0].backends[0].weight');

    // A good config afterwards applies again.
    gw.writeConfig(config('orders', 40));
    await eventually(() => {
      expect(gw.gateway.table?.routes[0]?.newServicePercent).toBe(40);
    });
  });

  it('counts an identical config as unchanged, without a new config line', async () => {
    const applied = logs.lines.filter((l) => l.message === 'config applied').length;
    gw.writeConfig(`# same routes, new comment\n${config('orders', 40)}`);
    await eventually(async () => {
      expect(
        sample(await metricsOf(gw), 'figway_gateway_config_reloads_total{result="unchanged"}'),
      ).toBe(1);
    });
    expect(logs.lines.filter((l) => l.message === 'config applied')).toHaveLength(applied);
  });
});
