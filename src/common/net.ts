// Small promise wrappers around node:net servers.
import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';

/** Listens on host:port (0 = any free port) and resolves with the bound port. */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolvePort((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** Stops accepting connections and resolves once every connection has closed. */
export function close(server: Server): Promise<void> {
  return new Promise((resolveClose) => {
    if (!server.listening) {
      resolveClose();
      return;
    }
    server.close(() => {
      resolveClose();
    });
  });
}

/** Tries `preferred` first and falls back to a free port when it is taken. */
export async function listenPreferred(
  server: Server,
  preferred: number,
  host: string,
): Promise<number> {
  try {
    return await listen(server, preferred, host);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || preferred === 0) throw error;
    return listen(server, 0, host);
  }
}
