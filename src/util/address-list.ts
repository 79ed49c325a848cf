/**
 * A list of IP addresses and CIDR ranges (`10.0.0.0/8`, `::1`), as config writes them, and the
 * question whether a peer's address is on it. IPv4-mapped IPv6 peers (`::ffff:10.1.2.3`, what a
 * dual-stack socket reports) match the IPv4 entries.
 */
import net from 'node:net';

const IPV4_BITS = 32;
const IPV6_BITS = 128;
const MAPPED_PREFIX = '::ffff:';

/** One entry of an address list: an address and how many leading bits of it must match. */
export interface AddressRange {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses `ip` or `ip/prefix`; returns a one-line reason (without the text) when it is neither. */
export function parseAddressRange(text: string): AddressRange | string {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = net.isIP(address);
  if (version === 0) return 'expected an IP address or a CIDR range such as 10.0.0.0/8';
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const bits = version === 4 ? IPV4_BITS : IPV6_BITS;
  if (slash < 0) return { address, prefix: bits, family };
  const prefixText = text.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > bits) {
    return `the prefix length after / is 0 to ${bits}`;
  }
  return { address, prefix, family };
}

/** Addresses and ranges a peer may come from; an empty list matches nothing. */
export class AddressList {
  private readonly list = new net.BlockList();
  readonly size: number;

  /** Throws Error naming the first entry that is not an IP address or CIDR range. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const range = parseAddressRange(entry.trim());
      if (typeof range === 'string') throw new Error(`${entry}: ${range}`);
      this.list.addSubnet(range.address, range.prefix, range.family);
    }
    this.size = entries.length;
  }

  /** True when `address` (as a socket reports it) is on the list. */
  has(address: string | undefined): boolean {
    if (address === undefined || this.size === 0) return false;
    if (address.startsWith(MAPPED_PREFIX)) {
      const v4 = address.slice(MAPPED_PREFIX.length);
      if (net.isIPv4(v4)) return this.list.check(v4, 'ipv4') || this.list.check(address, 'ipv6');
    }
    const version = net.isIP(address);
    if (version === 0) return false;
    return this.list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }
}
