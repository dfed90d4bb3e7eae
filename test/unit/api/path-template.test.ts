import { describe, expect, it } from '@jest/globals';
import {
  fillParameters,
  pathParameterNames,
  pathTemplateError,
  undeclaredReferenceError,
} from '../../../src/api/path-template.js';

describe('path templates', () => {
  it('declares {name} segments and RE2 named groups, in order', () => {
    expect(pathParameterNames({ type: 'Exact', value: '/a/{id}/b/{sub_2}' })).toEqual([
      'id',
      'sub_2',
    ]);
    expect(
      pathParameterNames({ type: 'RegularExpression', value: '/x/(?P<b>[0-9]+)/(?P<a>.*)' }),
    ).toEqual(['b', 'a']);
    expect(pathParameterNames({ type: 'PathPrefix', value: '/plain' })).toEqual([]);
  });

  it.each([
    ['/a/{id}', undefined],
    ['/a/{}', 'has parameter {}'],
    ['/a/{id', 'has "{id": a path parameter is a whole segment'],
    ['/a/id}', 'has "id}"'],
    ['/a/{{id}}', 'has "{{id}}"'],
    ['/a/{1d}', 'has parameter {1d}'],
    [`/${Array.from({ length: 17 }, (_, i) => `{p${i}}`).join('/')}`, 'has 17 parameters'],
  ])('checks %s', (value, error) => {
    if (error === undefined) expect(pathTemplateError(value)).toBeUndefined();
    else expect(pathTemplateError(value)).toContain(error);
  });

  it('names references the match does not declare, and what it does', () => {
    expect(undeclaredReferenceError('/customers/{id}', ['id'])).toBeUndefined();
    expect(undeclaredReferenceError('/orders?customer={cid}&x={id}', ['id'])).toBe(
      "refers to {cid}, which the route's match declares {id}",
    );
    expect(undeclaredReferenceError('/x/{id}', [])).toContain('declares none');
  });

  it('fills values encoded, so a value cannot add segments or query parameters', () => {
    expect(fillParameters('/orders/{id}?customer={c}', { id: '../admin', c: '1&admin=true' })).toBe(
      '/orders/..%2Fadmin?customer=1%26admin%3Dtrue',
    );
  });
});
