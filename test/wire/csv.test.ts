/*
 * The upload CSV and the conversion of source values by target field type: dates,
 * timestamps, booleans, plain decimals (every digit of numbers beyond 2^53 given as text),
 * text carried as it is (whitespace-only text too), null and '' as #N/A, and the literal
 * text #N/A refused as UNREPRESENTABLE (it would clear the field).
 */
import { expect } from 'chai';
import { buildCsv, convertValue, converterFor, csvDocument, csvLine, csvLineEnding, Invalid, NULL_TOKEN, recordLineEnding } from '../../src/sink/csv.js';

const ok = (value: string | null) => ({ ok: true, value });

describe('wire: csv', () => {
  it('buildCsv writes LF, quotes only where needed, #N/A for null', () => {
    const csv = buildCsv(
      ['External_ID__c', 'Name', 'Amount', 'Flag__c', 'Note__c'],
      [
        ['K1', "O'Brien", 12.5, true, null],
        ['K2', 'Smith, "Jr"', 1e21, false, undefined],
        ['K3', 'two\nlines', 0.1, 'x', 'a\rb'],
      ]
    );
    expect(csv).to.equal(
      'External_ID__c,Name,Amount,Flag__c,Note__c\n' +
        "K1,O'Brien,12.5,true,#N/A\n" +
        'K2,"Smith, ""Jr""",1000000000000000000000,false,#N/A\n' +
        'K3,"two\nlines",0.1,x,"a\rb"\n'
    );
    expect(() => buildCsv(['a', 'b'], [['x']])).to.throw(/row 1/);
    expect(buildCsv(['a'], [['x']], { delimiter: 'PIPE', lineEnding: 'CRLF' })).to.equal('a\r\nx\r\n');
  });

  it('converts dates from Data Cloud forms to yyyy-MM-dd', () => {
    expect(convertValue('2024-02-29', 'date')).to.deep.equal(ok('2024-02-29'));
    expect(convertValue('1989-04-01 00:00:00.000 UTC', 'date')).to.deep.equal(ok('1989-04-01'));
    expect(convertValue('2024-01-01T23:30:00-05:00', 'date')).to.deep.equal(ok('2024-01-02'));
    expect(convertValue('2023-02-29', 'date').ok).to.equal(false);
    expect(convertValue('01/02/2024', 'date').ok).to.equal(false);
    expect(convertValue(20240101, 'date').ok).to.equal(false);
    expect(convertValue('1600-01-01', 'date').ok).to.equal(false);
  });

  it('converts timestamps to ISO 8601 UTC with Z', () => {
    expect(convertValue('1989-04-01 13:36:30.123 UTC', 'datetime')).to.deep.equal(ok('1989-04-01T13:36:30.123Z'));
    expect(convertValue('2021-10-06T13:36:30.33265Z', 'datetime')).to.deep.equal(ok('2021-10-06T13:36:30.332Z'));
    expect(convertValue('2021-10-06 13:36:30', 'datetime')).to.deep.equal(ok('2021-10-06T13:36:30.000Z'));
    expect(convertValue('2021-10-06T13:36:30+02:00', 'datetime')).to.deep.equal(ok('2021-10-06T11:36:30.000Z'));
    expect(convertValue('2021-10-06', 'datetime')).to.deep.equal(ok('2021-10-06T00:00:00.000Z'));
    expect(convertValue(new Date(Date.UTC(2020, 0, 2, 3, 4, 5)), 'datetime')).to.deep.equal(ok('2020-01-02T03:04:05.000Z'));
    expect(convertValue('2021-10-06 25:00:00', 'datetime').ok).to.equal(false);
    expect(convertValue('yesterday', 'datetime').ok).to.equal(false);
  });

  it('converts booleans', () => {
    expect(convertValue(true, 'boolean')).to.deep.equal(ok('true'));
    expect(convertValue('FALSE', 'boolean')).to.deep.equal(ok('false'));
    expect(convertValue(1, 'boolean')).to.deep.equal(ok('true'));
    expect(convertValue(0, 'boolean')).to.deep.equal(ok('false'));
    const r = convertValue('maybe', 'boolean');
    expect(r.ok).to.equal(false);
    expect(r.ok ? '' : r.reason).to.match(/not a boolean/);
  });

  it('converts numbers to plain decimals, integers only for int', () => {
    expect(convertValue(1.5e-7, 'double')).to.deep.equal(ok('0.00000015'));
    expect(convertValue('2.5E3', 'currency')).to.deep.equal(ok('2500'));
    expect(convertValue(12, 'int')).to.deep.equal(ok('12'));
    expect(convertValue('12.0', 'int')).to.deep.equal(ok('12'));
    expect(convertValue(12.5, 'int').ok).to.equal(false);
    expect(convertValue('12a', 'double').ok).to.equal(false);
    expect(convertValue(Number.POSITIVE_INFINITY, 'double').ok).to.equal(false);
    expect(convertValue(99, 'percent')).to.deep.equal(ok('99'));
  });

  it('keeps strings as they are; null and empty clear the field', () => {
    expect(convertValue("O'Brien, \"x\"", 'string')).to.deep.equal(ok("O'Brien, \"x\""));
    expect(convertValue(1e21, 'string')).to.deep.equal(ok('1000000000000000000000'));
    expect(convertValue(false, 'picklist')).to.deep.equal(ok('false'));
    expect(convertValue(['a', 'b'], 'multipicklist')).to.deep.equal(ok('a;b'));
    expect(convertValue(null, 'date')).to.deep.equal(ok(null));
    expect(convertValue(undefined, 'string')).to.deep.equal(ok(null));
    expect(convertValue('', 'double')).to.deep.equal(ok(null));
    expect(convertValue('12:30:05', 'time')).to.deep.equal(ok('12:30:05.000Z'));
  });

  it('whitespace-only text is data: carried as it is (quoted in the CSV); only null, undefined and "" become #N/A', () => {
    // Changed on purpose: whitespace-only text used to clear the field; now it is kept.
    for (const type of ['string', 'textarea', 'picklist', 'email', 'reference']) {
      expect(convertValue('   ', type), type).to.deep.equal(ok('   '));
      expect(convertValue('\t', type), type).to.deep.equal(ok('\t'));
      expect(converterFor(type)(' '), type).to.equal(' ');
    }
    expect(convertValue(' x ', 'string')).to.deep.equal(ok(' x '));
    for (const type of ['string', 'double', 'date', 'boolean']) {
      expect(convertValue('', type), type).to.deep.equal(ok(null));
      expect(convertValue(null, type), type).to.deep.equal(ok(null));
      expect(converterFor(type)(undefined), type).to.equal(null);
    }
    // A field that wants a number, date or boolean cannot take blank text: refused with a reason, never cleared.
    for (const type of ['double', 'int', 'date', 'datetime', 'boolean']) {
      const r = convertValue('  ', type);
      expect(r.ok, type).to.equal(false);
      expect(r.ok ? null : r.kind, type).to.equal(undefined);
    }
    // In the CSV blank text is quoted (edge whitespace is), null is #N/A, never an empty cell (which would leave the field as it was).
    expect(buildCsv(['A', 'B', 'C', 'D'], [['   ', '\t', ' x ', null]])).to.equal('A,B,C,D\n"   ","\t"," x ",#N/A\n');
    expect(csvLine([converterFor('string')('  ') as string, converterFor('string')('') as null])).to.equal('"  ",#N/A');
  });

  it('the literal text #N/A is refused as UNREPRESENTABLE in every field type (in a Bulk CSV it clears the field)', () => {
    expect(NULL_TOKEN).to.equal('#N/A');
    for (const type of ['string', 'textarea', 'picklist', 'multipicklist', 'double', 'int', 'currency', 'date', 'datetime', 'time', 'boolean']) {
      const r = convertValue('#N/A', type);
      expect(r.ok, type).to.equal(false);
      if (r.ok) continue;
      expect(r.kind, type).to.equal('UNREPRESENTABLE');
      expect(r.reason, type).to.include('#N/A');
      const c = converterFor(type)('#N/A');
      expect(c, type).to.be.instanceOf(Invalid);
      expect((c as Invalid).kind, type).to.equal('UNREPRESENTABLE');
    }
    // Other text that holds it is data.
    expect(convertValue('#N/A or more', 'string')).to.deep.equal(ok('#N/A or more'));
  });

  it('numbers beyond 2^53 given as text keep every digit', () => {
    const big = '9007199254740993'; // 2^53 + 1: a double would make it ...992
    expect(String(Number(big))).to.equal('9007199254740992'); // the premise: a double cannot hold it
    for (const type of ['int', 'long', 'double', 'currency', 'percent', 'string', 'textarea']) {
      expect(convertValue(big, type), type).to.deep.equal(ok(big));
      expect(converterFor(type)(big), type).to.equal(big);
    }
    expect(convertValue('-12345678901234567890123', 'long')).to.deep.equal(ok('-12345678901234567890123'));
    expect(convertValue('12345678901234567890.000', 'int')).to.deep.equal(ok('12345678901234567890'));
    expect(convertValue('12345678901234567890.0000000001', 'currency')).to.deep.equal(ok('12345678901234567890.0000000001'));
    expect(convertValue('0.12345678901234567890123', 'double')).to.deep.equal(ok('0.12345678901234567890123'));
    expect(convertValue('1.2345678901234567891E25', 'double')).to.deep.equal(ok('12345678901234567891000000'));
    expect(convertValue('9007199254740993.5', 'int').ok).to.equal(false);
    expect(convertValue(9007199254740993n, 'long')).to.deep.equal(ok(big));
    expect(buildCsv(['K', 'N'], [[big, 9007199254740993n]])).to.equal(`K,N\n${big},${big}\n`);
  });

  it('the line ending a record needs: CRLF inside a value needs a CRLF job, a lone LF an LF job, both none', () => {
    expect(recordLineEnding(csvLine(['k1', 'plain']))).to.equal('any');
    expect(recordLineEnding(csvLine(['k1', 'carriage\rreturn']))).to.equal('any');
    expect(recordLineEnding(csvLine(['k1', 'line1\nline2']))).to.equal('LF');
    expect(recordLineEnding(csvLine(['k1', 'first\r\nsecond']))).to.equal('CRLF');
    expect(recordLineEnding(csvLine(['k1', 'a\r\nb', 'c\nd']))).to.equal('both');
    const crlf = csvDocument('External_ID__c,Name', [csvLine(['k1', 'first\r\nsecond'])], 'CRLF');
    expect(crlf).to.equal('External_ID__c,Name\r\nk1,"first\r\nsecond"\r\n');
    expect(csvLineEnding(crlf)).to.equal('CRLF');
    expect(csvLineEnding(Buffer.from(crlf))).to.equal('CRLF');
    expect(csvLineEnding(csvDocument('External_ID__c,Name', [csvLine(['k1', 'a\r\nb'])]))).to.equal('LF');
  });
});
