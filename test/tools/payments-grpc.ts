// The payments service of examples/payments.proto on a real grpc-js server on loopback,
// for the REST-to-gRPC tests. GetPayment answers from its request and metadata; an id
// status-N fails with gRPC code N, the id slow answers after 2 s.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_FILE = join(import.meta.dirname, '..', '..', 'examples', 'payments.proto');

export interface PaymentService {
  server: grpc.Server;
  port: number;
  /** Metadata of the calls received, most recent last. */
  metadata: grpc.Metadata[];
}

type Call = grpc.ServerUnaryCall<Record<string, unknown>, unknown>;
type Callback = grpc.sendUnaryData<unknown>;

export async function startPaymentService(): Promise<PaymentService> {
  const definition = protoLoader.loadSync(PROTO_FILE, {
    keepCase: true,
    longs: String,
    enums: String,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    payments: { v1: { Payments: { service: grpc.ServiceDefinition } } };
  };
  const server = new grpc.Server();
  const service: PaymentService = { server, port: 0, metadata: [] };
  server.addService(loaded.payments.v1.Payments.service, {
    GetPayment(call: Call, callback: Callback) {
      service.metadata.push(call.metadata);
      const id = String(call.request.payment_id);
      const status = /^status-([0-9]+)$/.exec(id);
      if (status) {
        // The enum's reverse mapping: 5 → NOT_FOUND → grpc.status.NOT_FOUND.
        const code = grpc.status[grpc.status[Number(status[1])] as keyof typeof grpc.status];
        callback({ code, details: `planned status ${code}` });
        return;
      }
      if (id === 'slow') {
        const timer = setTimeout(() => {
          callback(null, { id });
        }, 2000);
        call.on('cancelled', () => {
          clearTimeout(timer);
        });
        return;
      }
      callback(null, {
        id,
        customer_id: call.metadata.get('x-user-id')[0] ?? '',
        amount: { currency: 'EUR', amount_minor: '9007199254740993' },
        state: call.request.include_refunds === true ? 'REFUNDED' : 'SETTLED',
        receipt: Buffer.from('receipt'),
        sequence: '18446744073709551615',
      });
    },
    CreatePayment(call: Call, callback: Callback) {
      service.metadata.push(call.metadata);
      callback(null, {
        id: 'p-new',
        customer_id: call.request.customer_id,
        amount: call.request.amount,
        tags: call.request.tags,
        labels: call.request.labels,
        receipt: call.request.idempotency_key,
      });
    },
    WatchPayments(call: grpc.ServerWritableStream<unknown, unknown>) {
      call.end();
    },
  });
  service.port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
      if (error) reject(error);
      else resolve(port);
    });
  });
  return service;
}
