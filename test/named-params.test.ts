import { describe, expect, it } from 'vitest';
import { bindNamedParams, MissingParameterError } from '../src/warehouse/named-params.js';

describe('bindNamedParams', () => {
  it('turns :names into $n in first-seen order and binds each once', () => {
    const bound = bindNamedParams('select * from t where a = :since and b > :since and c = :region', { since: '2026-01-01', region: 'JP' });
    expect(bound.sql).toBe('select * from t where a = $1 and b > $1 and c = $2');
    expect(bound.params).toEqual(['2026-01-01', 'JP']);
  });

  it('leaves casts, string literals, quoted identifiers, comments and dollar quotes alone', () => {
    const sql = `select x::date, ':not_a_param', "col:name", $tag$ :nope $tag$ -- :comment\nfrom t /* :block */ where y = :yes`;
    const bound = bindNamedParams(sql, { yes: 1 });
    expect(bound.sql).toBe(`select x::date, ':not_a_param', "col:name", $tag$ :nope $tag$ -- :comment\nfrom t /* :block */ where y = $1`);
    expect(bound.params).toEqual([1]);
  });

  it('handles doubled quotes inside literals', () => {
    expect(bindNamedParams(`select 'it''s :x' as a, :y`, { y: 2 }).sql).toBe(`select 'it''s :x' as a, $1`);
  });

  it('names every parameter without a value', () => {
    expect(() => bindNamedParams('select :a, :b, :c', { b: 1 })).toThrow(MissingParameterError);
    expect(() => bindNamedParams('select :a, :b, :c', { b: 1 })).toThrow(':a, :c have no value');
  });
});
