/**
 * The SQLite statement cache (db/connect.ts): DML statements are prepared once per SQL text and
 * reused, answers stay right across schema changes, DDL is never cached, and the cache is bounded.
 */
import { expect } from 'chai';
import Database from 'better-sqlite3';
import { cacheStatements, openDatabase } from '../db/connect.js';

describe('SQLite statement cache', () => {
  it('reuses a prepared DML statement by SQL text and never caches DDL', () => {
    const db = new Database(':memory:');
    try {
      cacheStatements(db, 2);
      db.prepare('create table t (id integer primary key, v text)').run();
      const insert = db.prepare('insert into t (v) values (?)');
      expect(db.prepare('insert into t (v) values (?)')).to.equal(insert);
      insert.run('a');
      db.prepare('insert into t (v) values (?)').run('b');
      expect(db.prepare('select v from t order by id').all()).to.deep.equal([{ v: 'a' }, { v: 'b' }]);
      // A schema change: the cached statement still answers with the new shape.
      db.prepare('alter table t add column w text').run();
      db.prepare('update t set w = v').run();
      expect(db.prepare('select * from t order by id').all()).to.deep.equal([
        { id: 1, v: 'a', w: 'a' },
        { id: 2, v: 'b', w: 'b' },
      ]);
      expect(db.prepare('create table u (x)')).to.not.equal(db.prepare('create table u (x)'));
      // Bounded: with room for two, the oldest goes.
      db.prepare('select 1');
      db.prepare('select 2');
      expect(db.prepare('insert into t (v) values (?)')).to.not.equal(insert);
    } finally {
      db.close();
    }
  });

  it('is on for the server database: queries through knex answer as before', async () => {
    const database = openDatabase({ url: ':memory:' });
    try {
      await database.knex.schema.createTable('t', (t) => {
        t.increments('id');
        t.string('v');
      });
      for (const v of ['a', 'b', 'c']) await database.knex('t').insert({ v });
      expect(await database.knex('t').where('v', '>', 'a').orderBy('id').pluck('v')).to.deep.equal(['b', 'c']);
      expect(await database.knex('t').where('v', '>', 'b').orderBy('id').pluck('v')).to.deep.equal(['c']);
      expect(await database.knex('t').where({ v: 'b' }).update({ v: 'z' })).to.equal(1);
      expect(await database.knex('t').orderBy('id').pluck('v')).to.deep.equal(['a', 'z', 'c']);
    } finally {
      await database.close();
    }
  });
});
