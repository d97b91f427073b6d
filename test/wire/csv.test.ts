import { expect } from 'chai';
import { buildCsv, convertValue } from '../../src/sink/csv.js';

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
});
