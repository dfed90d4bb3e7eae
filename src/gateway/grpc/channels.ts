// The gateway's gRPC channels: one client (one HTTP/2 channel) per backend address and
// transport, shared by every route of a config that calls it and kept across configs that
// still use it, as the HTTP pools are (runtime.ts). A new config marks what it uses; the
// channels it no longer uses are closed once it is in force. Closing a channel fails only
// calls still waiting for a connection; calls already sent finish.
import { Client, credentials } from '@grpc/grpc-js';

/** Largest reply a translated call takes, in bytes (grpc-js's default receive limit). */
export const MAX_REPLY_BYTES = 4 * 1024 * 1024;

/** A backend URL as a gRPC target: host:port, and whether TLS is spoken (https). */
export function grpcTarget(url: string): { target: string; tls: boolean } {
  const parsed = new URL(url);
  const tls = parsed.protocol === 'https:';
  const port = parsed.port !== '' ? parsed.port : tls ? '443' : '80';
  // hostname keeps the brackets of an IPv6 address, as the target syntax wants them.
  return { target: `${parsed.hostname}:${port}`, tls };
}

export class GrpcChannels {
  private readonly clients = new Map<string, Client>();
  private used = new Set<string>();

  /** Starts building a config: what it asks for from now on is what it keeps. */
  beginConfig(): void {
    this.used = new Set();
  }

  /** The client of a backend URL; created on first use. */
  client(url: string): Client {
    const { target, tls } = grpcTarget(url);
    const key = `${tls ? 'tls' : 'h2c'} ${target}`;
    this.used.add(key);
    let client = this.clients.get(key);
    if (client === undefined) {
      client = new Client(target, tls ? credentials.createSsl() : credentials.createInsecure(), {
        'grpc.max_receive_message_length': MAX_REPLY_BYTES,
      });
      this.clients.set(key, client);
    }
    return client;
  }

  /** The config built since beginConfig is in force: closes the channels it does not use. */
  commitConfig(): void {
    for (const [key, client] of this.clients) {
      if (this.used.has(key)) continue;
      client.close();
      this.clients.delete(key);
    }
  }

  /** Open channels, for tests and logs. */
  get size(): number {
    return this.clients.size;
  }

  closeAll(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
