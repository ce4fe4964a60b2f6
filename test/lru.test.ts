import test from 'ava';
import { LruMap } from '../server/lru.js';

test('LruMap keeps at most max entries and forgets the least recently used first', (t) => {
  const m = new LruMap<string, number>(2);
  m.set('a', 1);
  m.set('b', 2);
  t.is(m.get('a'), 1); // a is now the most recently used
  m.set('c', 3); // evicts b
  t.is(m.size, 2);
  t.is(m.get('b'), undefined);
  t.is(m.get('a'), 1);
  t.is(m.get('c'), 3);
  m.set('a', 10); // overwrite refreshes, no growth
  m.set('d', 4); // evicts c
  t.is(m.get('c'), undefined);
  t.is(m.get('a'), 10);
  t.throws(() => new LruMap(0), { instanceOf: RangeError });
});
