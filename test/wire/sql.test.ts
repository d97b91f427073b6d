import { expect } from 'chai';
import {
  assertIdentifier,
  buildInQuery,
  buildPageQuery,
  keysetAfter,
  keysetUpTo,
  plainDecimal,
  quoteIdent,
  quoteLiteral,
} from '../../src/source/sql.js';

describe('wire: sql', () => {
  it('quotes identifiers with doubled double quotes', () => {
    expect(quoteIdent('ssot__Id__c')).to.equal('"ssot__Id__c"');
    expect(quoteIdent('we"ird')).to.equal('"we""ird"');
    expect(() => quoteIdent('')).to.throw();
  });

  it('quotes literals: strings with doubled single quotes, plain numbers, booleans, NULL', () => {
    expect(quoteLiteral("O'Brien")).to.equal("'O''Brien'");
    expect(quoteLiteral("''")).to.equal("''''''");
    expect(quoteLiteral('a\\b')).to.equal("'a\\b'");
    expect(quoteLiteral(42)).to.equal('42');
    expect(quoteLiteral(-1.5)).to.equal('-1.5');
    expect(quoteLiteral(1e21)).to.equal('1000000000000000000000');
    expect(quoteLiteral(1e-7)).to.equal('0.0000001');
    expect(quoteLiteral(true)).to.equal('TRUE');
    expect(quoteLiteral(null)).to.equal('NULL');
    expect(() => quoteLiteral(Number.NaN)).to.throw();
    expect(() => quoteLiteral('a\0b')).to.throw();
  });

  it('plainDecimal expands exponents', () => {
    expect(plainDecimal('1.25e2')).to.equal('125');
    expect(plainDecimal('-1.5E+21')).to.equal('-1500000000000000000000');
    expect(plainDecimal('123.456e-5')).to.equal('0.00123456');
    expect(plainDecimal('000.5000')).to.equal('0.5');
    expect(plainDecimal('-0')).to.equal('0');
  });

  it('assertIdentifier accepts API names and rejects anything else', () => {
    expect(() => assertIdentifier('ExtOpportunities__dlm', 'Table')).not.to.throw();
    expect(() => assertIdentifier('ssot__Id__c', 'Column')).not.to.throw();
    for (const bad of ['', '1abc', 'a b', 'a;DROP', 'a"b', "a'b", 'a.b', '_x', 'a-b']) {
      expect(() => assertIdentifier(bad, 'Column'), bad).to.throw(/Column .* is not a valid Data Cloud API name/);
    }
    expect(() => assertIdentifier(undefined, 'Key column')).to.throw(/Key column/);
  });

  it('keysetAfter builds the composite strictly-after predicate', () => {
    expect(keysetAfter(['K__c'], ["O'Brien"])).to.equal(`("K__c" > 'O''Brien')`);
    expect(keysetAfter(['P__c', 'K__c'], ['A1', 7])).to.equal(`(("P__c" > 'A1') OR ("P__c" = 'A1' AND "K__c" > 7))`);
    expect(keysetAfter(['a', 'b', 'c'], ['x', 'y', 'z'])).to.equal(
      `(("a" > 'x') OR ("a" = 'x' AND "b" > 'y') OR ("a" = 'x' AND "b" = 'y' AND "c" > 'z'))`
    );
    expect(() => keysetAfter(['a', 'b'], ['x'])).to.throw();
    expect(() => keysetAfter([], [])).to.throw();
  });

  it('keysetUpTo builds the composite up-to-and-including predicate', () => {
    expect(keysetUpTo(['K__c'], ['M'])).to.equal(`("K__c" <= 'M')`);
    expect(keysetUpTo(['P__c', 'K__c'], ['A1', 'K9'])).to.equal(`(("P__c" < 'A1') OR ("P__c" = 'A1' AND "K__c" <= 'K9'))`);
  });

  it('buildPageQuery assembles SELECT … WHERE … ORDER BY … LIMIT', () => {
    const sql = buildPageQuery({
      table: 'ExtOpportunities__dlm',
      columns: ['ExternalId__c', 'Name__c'],
      keyColumns: ['AccountExternalId__c', 'ExternalId__c'],
      after: ['ACC-1', "O'Brien"],
      upTo: ['ACC-9', 'ZZZ'],
      filter: `"Stage__c" <> 'Closed'`,
      limit: 500,
    });
    expect(sql).to.equal(
      `SELECT "ExternalId__c", "Name__c", "AccountExternalId__c" FROM "ExtOpportunities__dlm" WHERE ` +
        `(("AccountExternalId__c" > 'ACC-1') OR ("AccountExternalId__c" = 'ACC-1' AND "ExternalId__c" > 'O''Brien')) AND ` +
        `(("AccountExternalId__c" < 'ACC-9') OR ("AccountExternalId__c" = 'ACC-9' AND "ExternalId__c" <= 'ZZZ')) AND ` +
        `("Stage__c" <> 'Closed') ORDER BY "AccountExternalId__c", "ExternalId__c" LIMIT 500`
    );
    expect(buildPageQuery({ table: 'T__dlm', columns: ['K__c'], keyColumns: ['K__c'], limit: 10 })).to.equal(
      'SELECT "K__c" FROM "T__dlm" ORDER BY "K__c" LIMIT 10'
    );
    expect(() => buildPageQuery({ table: 'T; DROP', columns: ['K__c'], keyColumns: ['K__c'], limit: 10 })).to.throw(/Table/);
    expect(() => buildPageQuery({ table: 'T', columns: ['K__c'], keyColumns: ['K__c'], limit: 0 })).to.throw(/limit/);
  });

  it('buildInQuery quotes keys safely and drops duplicates', () => {
    const sql = buildInQuery({ table: 'T__dlm', columns: ['Name__c'], keyColumn: 'K__c', keys: ["O'Brien", 'x', 'x', 5], filter: '"A" = 1' });
    expect(sql).to.equal(`SELECT "Name__c", "K__c" FROM "T__dlm" WHERE "K__c" IN ('O''Brien', 'x', 5) AND ("A" = 1) ORDER BY "K__c"`);
    expect(() => buildInQuery({ table: 'T__dlm', columns: ['K__c'], keyColumn: 'K__c', keys: [] })).to.throw(/no keys/);
  });
});
