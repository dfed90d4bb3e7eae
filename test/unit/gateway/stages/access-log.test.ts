import { describe, expect, it } from '@jest/globals';
import { isErrorOutcome, redactQuery } from '../../../../src/gateway/stages/access-log.js';

describe('redactQuery', () => {
  it.each([
    ['', ''],
    ['a', 'a'],
    ['a=1', 'a=<redacted>'],
    ['token=xyz&page=2', 'token=<redacted>&page=<redacted>'],
    ['=x', '=<redacted>'],
    ['a=', 'a=<redacted>'],
    ['a==b', 'a=<redacted>'],
    ['a=1&&b', 'a=<redacted>&&b'],
    ['a=1&', 'a=<redacted>&'],
    ['&', '&'],
    ['&&', '&&'],
    ['&a=1', '&a=<redacted>'],
    ['a&b=2', 'a&b=<redacted>'],
    ['flag&=&x=%20y', 'flag&=<redacted>&x=<redacted>'],
  ])('%j → %j', (query, expected) => {
    expect(redactQuery(query)).toBe(expected);
  });

  it('keeps every separator, so a line shows how many parameters were sent', () => {
    const query = 'a=1&b&&c=3&';
    expect(redactQuery(query).split('&')).toHaveLength(query.split('&').length);
  });
});

describe('isErrorOutcome', () => {
  it.each([
    [{ status: 200, local: false, failure: undefined }, false],
    [{ status: 404, local: false, failure: undefined }, false],
    [{ status: 400, local: true, failure: undefined }, true],
    [{ status: 502, local: false, failure: 'connect-failure' }, true],
    [{ status: 200, local: false, failure: 'timeout' }, true],
    [{ status: 0, local: false, failure: undefined }, true],
  ])('%j → %s', (outcome, expected) => {
    expect(isErrorOutcome(outcome)).toBe(expected);
  });
});
