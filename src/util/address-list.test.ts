import { describe, expect, it } from 'vitest';
import { AddressList, parseAddressRange } from './address-list.js';

describe('parseAddressRange', () => {
  it('reads addresses and CIDR ranges of both families', () => {
    expect(parseAddressRange('10.1.2.3')).toEqual({ address: '10.1.2.3', prefix: 32, family: 'ipv4' });
    expect(parseAddressRange('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseAddressRange('fd00::/8')).toEqual({ address: 'fd00::', prefix: 8, family: 'ipv6' });
  });

  it('says what is wrong with anything else', () => {
    expect(parseAddressRange('localhost')).toBe('expected an IP address or a CIDR range such as 10.0.0.0/8');
    expect(parseAddressRange('10.0.0.0/33')).toBe('the prefix length after / is 0 to 32');
    expect(parseAddressRange('::1/x')).toBe('the prefix length after / is 0 to 128');
  });
});

describe('AddressList', () => {
  it('matches addresses inside its ranges, IPv4-mapped IPv6 peers included', () => {
    const list = new AddressList(['127.0.0.1', '10.0.0.0/8', '::1']);
    expect(list.has('127.0.0.1')).toBe(true);
    expect(list.has('::ffff:127.0.0.1')).toBe(true);
    expect(list.has('10.200.3.4')).toBe(true);
    expect(list.has('::1')).toBe(true);
    expect(list.has('127.0.0.2')).toBe(false);
    expect(list.has('192.168.1.1')).toBe(false);
    expect(list.has(undefined)).toBe(false);
  });

  it('matches nothing when empty, and refuses a bad entry', () => {
    expect(new AddressList([]).has('127.0.0.1')).toBe(false);
    expect(() => new AddressList(['10.0.0.0/99'])).toThrow(
      '10.0.0.0/99: the prefix length after / is 0 to 32',
    );
  });
});
