import assert from 'node:assert/strict';
import { test } from 'node:test';

test('unit', () => assert.equal(1, 1));
