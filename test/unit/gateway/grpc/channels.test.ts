import { describe, expect, it } from '@jest/globals';
import { connectivityState } from '@grpc/grpc-js';
import { GrpcChannels, grpcTarget } from '../../../../src/gateway/grpc/channels.js';

describe('grpcTarget', () => {
  it.each([
    ['http://payments.shop.svc:50051', { target: 'payments.shop.svc:50051', tls: false }],
    ['http://payments.shop.svc', { target: 'payments.shop.svc:80', tls: false }],
    ['https://payments.example.com', { target: 'payments.example.com:443', tls: true }],
    ['https://[fd00::7]:8443/base', { target: '[fd00::7]:8443', tls: true }],
  ])('%s → %j', (url, expected) => {
    expect(grpcTarget(url)).toEqual(expected);
  });
});

describe('GrpcChannels', () => {
  it('shares one channel per address across routes and configs, and closes those a config drops', () => {
    const channels = new GrpcChannels();
    channels.beginConfig();
    const a = channels.client('http://127.0.0.1:1');
    expect(channels.client('http://127.0.0.1:1')).toBe(a);
    const b = channels.client('https://127.0.0.1:1');
    expect(b).not.toBe(a);
    channels.commitConfig();
    expect(channels.size).toBe(2);

    channels.beginConfig();
    expect(channels.client('http://127.0.0.1:1')).toBe(a);
    channels.commitConfig();
    expect(channels.size).toBe(1);
    expect(b.getChannel().getConnectivityState(false)).toBe(connectivityState.SHUTDOWN);
    expect(a.getChannel().getConnectivityState(false)).not.toBe(connectivityState.SHUTDOWN);

    channels.closeAll();
    expect(a.getChannel().getConnectivityState(false)).toBe(connectivityState.SHUTDOWN);
  });
});
