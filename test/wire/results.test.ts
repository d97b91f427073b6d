/*
 * Bulk API 2.0 result files: parseResultCsv (every column), readResultRows (key, created,
 * error only, as the recorder reads them: values exactly as echoed, whitespace-only and
 * long-digit keys included), sf__Error forms and the transient/permanent table.
 */
import { expect } from 'chai';
import { classifySfError, parseResultCsv, parseSfError, readResultRows, TRANSIENT_CODES } from '../../src/sink/results.js';

describe('wire: results', () => {
  it('parses result CSVs with quoted sf__ headers and values', () => {
    const text =
      '"sf__Id","sf__Error",DC_Key__c,LastName\n' +
      '"","REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --","K-003",""\n' +
      '"0035g00000AAAAAAA4","UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 1 records: 0035g00000AAAAAAA4:--","K-004","Brown; Jr | x"\n';
    const rows = parseResultCsv(text);
    expect(rows).to.have.length(2);
    expect(rows[0]).to.deep.equal({
      sf__Id: '',
      sf__Error: 'REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --',
      DC_Key__c: 'K-003',
      LastName: '',
    });
    expect(rows[1].LastName).to.equal('Brown; Jr | x');
  });

  it('uses the job delimiter, strips a BOM, handles CRLF and empty files', () => {
    expect(parseResultCsv('\uFEFF"sf__Id"|"sf__Created"|K\r\n"001"|"true"|"a,b"\r\n', 'PIPE')).to.deep.equal([
      { sf__Id: '001', sf__Created: 'true', K: 'a,b' },
    ]);
    expect(parseResultCsv('')).to.deep.equal([]);
    expect(parseResultCsv('"sf__Id","sf__Created",K\n')).to.deep.equal([]);
  });

  it('refuses malformed CSV instead of patching it up', () => {
    expect(() => parseResultCsv('a,b\n"x,y\n')).to.throw(/result file/);
    expect(() => parseResultCsv('a,b\n1,2,3\n')).to.throw(/result file/);
  });

  it('keeps values exactly as echoed: whitespace-only text, #N/A and digits beyond 2^53 are text', () => {
    const rows = parseResultCsv('"sf__Id","sf__Created",K,Note__c,N__c\n"001","true","   ","#N/A","9007199254740993"\n');
    expect(rows).to.deep.equal([{ sf__Id: '001', sf__Created: 'true', K: '   ', Note__c: '#N/A', N__c: '9007199254740993' }]);
  });

  it('readResultRows: key, sf__Created and sf__Error of each record, by header name, nothing trimmed', () => {
    const ok =
      '"sf__Id","sf__Created",External_ID__c,Name,Amount\n' +
      '"001000000000001AAA","true","K1","a, ""b""","1"\n' +
      '"001000000000002AAA","false","9007199254740993","x\ny","2"\n' +
      '"001000000000003AAA","false","  ","#N/A","3"\n';
    expect(readResultRows(ok, 'External_ID__c')).to.deep.equal([
      { key: 'K1', created: true, error: '' },
      { key: '9007199254740993', created: false, error: '' },
      { key: '  ', created: false, error: '' },
    ]);
    // The job's delimiter, a BOM, CRLF, the key header in another case.
    const failed = '\uFEFF"sf__Id"|"sf__Error"|"external_id__c"|Name\r\n""|"FIELD_CUSTOM_VALIDATION_EXCEPTION:Amount must be positive:Amount__c --"|" K2 "|""\r\n';
    expect(readResultRows(failed, 'External_ID__c', 'PIPE')).to.deep.equal([
      { key: ' K2 ', created: false, error: 'FIELD_CUSTOM_VALIDATION_EXCEPTION:Amount must be positive:Amount__c --' },
    ]);
    expect(readResultRows('', 'External_ID__c')).to.deep.equal([]);
    expect(readResultRows('"sf__Id","sf__Created",External_ID__c\n', 'External_ID__c')).to.deep.equal([]);
    expect(() => readResultRows('"sf__Id","sf__Created",Other\n"001","true","K1"\n', 'External_ID__c')).to.throw(/no External_ID__c column/);
    expect(() => readResultRows('"sf__Id",External_ID__c\n"001","K1\n', 'External_ID__c')).to.throw(/result file/);
    expect(() => readResultRows('"sf__Id",External_ID__c\n"001","K1",x\n', 'External_ID__c')).to.throw(/result file/);
  });

  it('parses sf__Error forms', () => {
    expect(parseSfError('REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --')).to.deep.equal({
      code: 'REQUIRED_FIELD_MISSING',
      message: 'Required fields are missing: [Name]',
      fields: ['Name'],
    });
    expect(parseSfError('INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--')).to.deep.equal({
      code: 'INVALID_CROSS_REFERENCE_KEY',
      message: 'invalid cross reference id',
      fields: [],
    });
    expect(parseSfError('UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 200 records: 001xx0000000001AAA,001xx0000000002AAA:--')).to.deep.equal({
      code: 'UNABLE_TO_LOCK_ROW',
      message: 'unable to obtain exclusive access to this record or 200 records: 001xx0000000001AAA,001xx0000000002AAA',
      fields: [],
    });
    expect(parseSfError('REQUIRED_FIELD_MISSING:Required fields are missing: [LastName, Company]:LastName, Company --').fields).to.deep.equal([
      'LastName',
      'Company',
    ]);
    expect(parseSfError('INVALID_FIELD:Foreign key external ID: c9 not found')).to.deep.equal({
      code: 'INVALID_FIELD',
      message: 'Foreign key external ID: c9 not found',
      fields: [],
    });
    expect(parseSfError('DUPLICATE_VALUE:duplicate value found: External_ID__c duplicates value on record with id: 001A:--').message).to.equal(
      'duplicate value found: External_ID__c duplicates value on record with id: 001A'
    );
    expect(parseSfError('FIELD_CUSTOM_VALIDATION_EXCEPTION:Amount must be positive:Amount__c--')).to.deep.equal({
      code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION',
      message: 'Amount must be positive',
      fields: ['Amount__c'],
    });
    expect(parseSfError('')).to.deep.equal({ code: 'UNKNOWN', message: '', fields: [] });
    expect(parseSfError('something odd happened')).to.deep.equal({ code: 'UNKNOWN', message: 'something odd happened', fields: [] });
  });

  it('classifies codes per the transient table', () => {
    for (const c of ['UNABLE_TO_LOCK_ROW', 'API_TEMPORARILY_UNAVAILABLE', 'SERVER_UNAVAILABLE', 'UNKNOWN_EXCEPTION', 'REQUEST_RUNNING_TOO_LONG', 'TooManyLockFailure']) {
      expect(classifySfError(c), c).to.equal('transient');
      expect(TRANSIENT_CODES.has(c)).to.equal(true);
    }
    for (const c of ['FIELD_CUSTOM_VALIDATION_EXCEPTION', 'INVALID_FIELD', 'DUPLICATE_VALUE', 'REQUIRED_FIELD_MISSING', 'STRING_TOO_LONG', 'UNKNOWN']) {
      expect(classifySfError(c), c).to.equal('permanent');
    }
    expect(classifySfError('CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY', 'MyTrigger: execution of AfterInsert caused by: System.DmlException: UNABLE_TO_LOCK_ROW')).to.equal('transient');
    expect(classifySfError('CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY', 'MyTrigger: System.LimitException: Apex CPU time limit exceeded')).to.equal('transient');
    expect(classifySfError('CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY', 'MyTrigger: System.NullPointerException')).to.equal('permanent');
    expect(classifySfError('CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY')).to.equal('permanent');
  });
});
