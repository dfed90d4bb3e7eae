// Loopback HTTP and ports for the test control plane, on Node built-ins only.
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';

export interface ApiTarget {
  server: string;
  token: string;
  caFile: string;
}

export interface HttpResponse {
  status: number;
  body: string;
}

/** One request to the API server as the given identity; bounded by timeoutMs. */
export function apiRequest(
  target: ApiTarget,
  method: string,
  path: string,
  body?: unknown,
  opts: { contentType?: string; timeoutMs?: number } = {},
): Promise<HttpResponse> {
  const payload =
    body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = {
    authorization: `Bearer ${target.token}`,
    accept: 'application/json',
  };
  if (payload !== undefined) {
    headers['content-type'] = opts.contentType ?? 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  return httpRequest(new URL(path, target.server), {
    method,
    headers,
    ca: readFileSync(target.caFile),
    payload,
    timeoutMs: opts.timeoutMs ?? 10_000,
  });
}

export function httpRequest(
  url: URL,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    ca?: Buffer;
    insecure?: boolean;
    payload?: string | undefined;
    timeoutMs: number;
  },
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(
      url,
      {
        method: opts.method ?? 'GET',
        headers: opts.headers,
        ca: opts.ca,
        // Only for the /healthz of components that serve a self-signed loopback certificate.
        rejectUnauthorized: !opts.insecure,
        agent: false,
        timeout: opts.timeoutMs,
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (data += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: data });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${opts.timeoutMs}ms`)));
    req.on('error', reject);
    req.end(opts.payload);
  });
}

// ---------------------------------------------------------------------------------------

/** Distinct free loopback ports: all are held open together, then released. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

export async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen(port, '127.0.0.1', () =>
      server.close(() => {
        resolve(true);
      }),
    );
  });
}
