import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../../errors.js';
import { parseListOutput, parseStartOutput } from './hook-output.js';

const START = 'fleet.hooks.start (web 2.0.0 #1)';
const LIST = 'fleet.hooks.list (web)';

function startError(stdout: string, stderr = ''): string {
  try {
    parseStartOutput(START, { stdout, stderr });
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return (err as Error).message;
  }
  throw new Error('expected the start output to be rejected');
}

function listError(stdout: string): string {
  try {
    parseListOutput(LIST, { stdout, stderr: '' });
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return (err as Error).message;
  }
  throw new Error('expected the list output to be rejected');
}

describe('parseStartOutput', () => {
  it('takes the last non-empty line as the JSON, after lines of log', () => {
    const stdout = 'pulling image\nstarting unit web@2.0.0-1\n{"address": "10.0.0.5:8080", "host": "b"}\n\n';
    expect(parseStartOutput(START, { stdout, stderr: '' })).toBe('10.0.0.5:8080');
  });

  it('accepts one pretty-printed JSON object as the whole output', () => {
    expect(parseStartOutput(START, { stdout: '{\n  "address": "[::1]:9000"\n}\n', stderr: '' })).toBe(
      '[::1]:9000',
    );
  });

  it('names the hook, the line it could not read and the stderr', () => {
    expect(startError('started on 8080\n', 'warning: slow disk')).toBe(
      `${START} printed a last line that is not JSON: started on 8080; expected {"address": "host:port"} as the last line of stdout: warning: slow disk`,
    );
  });

  it('rejects empty output, a missing address and an address without a usable port', () => {
    expect(startError('')).toBe(
      `${START} printed nothing on stdout; expected {"address": "host:port"} as the last line of stdout`,
    );
    expect(startError('{"addr": "10.0.0.5:8080"}')).toBe(
      `${START} printed {"addr":"10.0.0.5:8080"}: "address" must be "host:port" such as "10.0.0.5:8080", got nothing`,
    );
    expect(startError('{"address": "10.0.0.5"}')).toContain('"address" must be "host:port"');
    expect(startError('{"address": "10.0.0.5:70000"}')).toContain(
      '"address" has port 70000, outside 1-65535',
    );
    expect(startError('[]')).toBe(
      `${START} printed []; expected {"address": "host:port"} as the last line of stdout`,
    );
  });
});

describe('parseListOutput', () => {
  it('reads address, version and instance (a number or digits), ignoring other fields', () => {
    const stdout = JSON.stringify([
      { address: '10.0.0.5:8080', version: '2.0.0', instance: 1, host: 'b' },
      { address: '10.0.0.6:8080', version: '2.0.0', instance: '0' },
      { address: '10.0.0.7:8080', version: '1.9.0', instance: 'one' },
    ]);
    expect(parseListOutput(LIST, { stdout, stderr: '' })).toEqual([
      { address: '10.0.0.5:8080', version: '2.0.0', instance: 1 },
      { address: '10.0.0.6:8080', version: '2.0.0', instance: 0 },
      { address: '10.0.0.7:8080', version: '1.9.0', instance: undefined },
    ]);
  });

  it('accepts an empty array, also after lines of log', () => {
    expect(parseListOutput(LIST, { stdout: 'connecting to hosts\n[]\n', stderr: '' })).toEqual([]);
  });

  it('names the item and the field that is wrong', () => {
    expect(listError('{"address": "10.0.0.5:8080"}')).toContain(
      'printed {"address":"10.0.0.5:8080"}; expected a JSON array',
    );
    expect(listError('[{"address": "10.0.0.5:8080"}]')).toBe(
      `${LIST} item 0: "version" must be a non-empty string, got nothing`,
    );
    expect(listError('[{"address": "10.0.0.5:8080", "version": "1"}, "x"]')).toContain(
      `${LIST} item 1 is not an object`,
    );
    expect(listError('[{"address": "nowhere", "version": "1"}]')).toBe(
      `${LIST} item 0: "address" must be "host:port" such as "10.0.0.5:8080", got "nowhere"`,
    );
  });
});
