import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify } from '../static/js/classify.js';

test('classify search input', () => {
  const cases = [
    ['', 'empty'],
    ['   ', 'empty'],
    ['4BF92F3577B34DA6A3CE929D0E0E4736', 'trace'],
    ['tok-child-7', 'id'],
    ['agent-rotator', 'id'],
    ['AKIAIOSFODNN7EXAMPLE', 'id'],
    ['spiffe://example.org/ns/prod/sa/deployer', 'id'],
    ['3f2b8c1e-9d4a-4b6e-8f0a-1c2d3e4f5a6b', 'id'],
    ['arn:aws:iam::123456789012:role/deployer', 'id'],
    ['eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ0b2stY2hpbGQtNyJ9.c2lnbmF0dXJlLWJ5dGVz', 'token'],
    ['ghp_16C7e42F292c6912E7710c838347Ae178B4a', 'token'],
    ['xoxb-263594206564-2343594206574-FGqddMF8t08v8N7Oq4i57vs1', 'token'],
    ['sk-proj-AbCdEf0123456789AbCdEf0123456789', 'token'],
    ['Bearer abc.def', 'token'],
    ['Authorization: Bearer opaque-token-value', 'token'],
    ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'token'],
    ['00000000000000000000000000000000000000000000', 'id'],
    ['dop_v1_' + 'a1'.repeat(32), 'token'],
    ['Basic ZGVwbG95Omh1bnRlcjI=', 'token'],
    ['-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg\n-----END EC PRIVATE KEY-----', 'token'],
    ['DB_HOST=db\nDB_PASSWORD=hunter2hunter2', 'token'],
  ];
  for (const [input, want] of cases) {
    assert.equal(classify(input).type, want, JSON.stringify(input));
  }
  assert.equal(classify('4BF92F3577B34DA6A3CE929D0E0E4736').value, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(classify('Bearer abc.def').value, 'abc.def');
});
