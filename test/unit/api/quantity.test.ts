// Kubernetes quantities: their value, and the canonical form the API server stores.
import { describe, expect, test } from '@jest/globals';
import { canonicalQuantity, quantityValue } from '../../../src/api/index.js';

describe('quantities', () => {
  test.each([
    ['128Mi', 134217728],
    ['1Gi', 1073741824],
    ['1.5G', 1.5e9],
    ['500M', 5e8],
    ['100m', 0.1],
    ['1e3', 1000],
    ['2E', 2e18],
    ['268435456', 268435456],
    ['12Qi', undefined],
    ['1.2.3', undefined],
    ['Ki', undefined],
    ['.', undefined],
    ['.5', 0.5],
  ])('quantity %s is %s', (text, value) => {
    expect(quantityValue(text)).toBe(value);
  });

  test.each([
    ['100m', '100m'],
    ['0.5', '500m'],
    ['0.1', '100m'],
    ['1500m', '1500m'],
    ['1000m', '1'],
    ['2000', '2k'],
    ['1.5G', '1500M'],
    ['128Mi', '128Mi'],
    ['1.5Gi', '1536Mi'],
    ['2048Mi', '2Gi'],
    ['1000Ki', '1000Ki'],
    ['0.5Ki', '512'],
    ['1e3', '1e3'],
    ['1000e3', '1e6'],
    ['0.0000000001', '1n'],
    ['0', '0'],
    ['12Qi', undefined],
  ])('canonical form of %s is %s (as the API server stores it)', (text, canonical) => {
    expect(canonicalQuantity(text)).toBe(canonical);
  });
});
