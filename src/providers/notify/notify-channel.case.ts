/**
 * The contract every notification channel keeps, run against each implementation with a real peer
 * (an HTTP receiver, an SMTP server): `runNotifyChannelContract` in each channel's test file.
 */
import { describe, expect, it } from 'vitest';
import type { Notice } from '../../comms/types.js';
import type { NotifyChannel } from './types.js';

/** What the peer answers when it refuses, so the contract can look for it in the error. */
export const REFUSAL = 'refused by the test peer';

/** A real peer of a channel, whose answer a test can change. */
export interface ChannelPeer {
  /** Accept what comes next. */
  accept(): void;
  /** Refuse what comes next, answering with REFUSAL. */
  refuse(): void;
  /** How many notices the peer accepted. */
  accepted(): number;
  close(): Promise<void>;
}

/** What one run of the contract needs: a channel to its peer, one to nowhere, and its secret. */
export interface ChannelUnderTest {
  channel: NotifyChannel;
  peer: ChannelPeer;
  /** The same kind of channel to a port nothing listens on. */
  unreachable: NotifyChannel;
  /** A credential in its config, which `target` must not show. */
  secret: string;
}

const notice: Notice = {
  event: 'release.rolled_back',
  title: 'web 1.4.2 rolled back',
  text: 'error_rate 21.4% > 5% for 5s on canary',
  severity: 'error',
  service: 'web',
  url: 'https://shipcheck.example.com/releases/12',
  release: { id: 12, version: '1.4.2', fromVersion: '1.4.1', state: 'rolled_back' },
};

/** Runs the contract: delivered to a peer that accepts; a refusal and no answer are data, never a throw. */
export function runNotifyChannelContract(type: string, setup: () => Promise<ChannelUnderTest>): void {
  describe(`${type} channel contract`, () => {
    it('delivers a notice to a peer that accepts it, once per send', async () => {
      const { channel, peer } = await setup();
      try {
        expect(channel.type).toBe(type);
        expect(await channel.send(notice, { id: 'contract-1', at: Date.now() })).toMatchObject({
          delivered: true,
        });
        expect(peer.accepted()).toBe(1);
      } finally {
        await channel.close?.();
        await peer.close();
      }
    });

    it("resolves a refusal as not delivered, with the peer's answer", async () => {
      const { channel, peer } = await setup();
      try {
        peer.refuse();
        const result = await channel.send(notice, { id: 'contract-2', at: Date.now() });
        expect(result.delivered).toBe(false);
        expect(!result.delivered && result.error).toContain(REFUSAL);
        expect(peer.accepted()).toBe(0);
      } finally {
        await channel.close?.();
        await peer.close();
      }
    });

    it('resolves a peer that does not answer as not delivered, with why', async () => {
      const { unreachable, channel, peer } = await setup();
      try {
        const result = await unreachable.send(notice, { id: 'contract-3', at: Date.now() });
        expect(result.delivered).toBe(false);
        expect(!result.delivered && result.error).toMatch(/ECONNREFUSED/);
      } finally {
        await unreachable.close?.();
        await channel.close?.();
        await peer.close();
      }
    });

    it('shows where it sends without the secret', async () => {
      const { channel, peer, secret } = await setup();
      try {
        expect(channel.target).not.toBe('');
        expect(channel.target).not.toContain(secret);
      } finally {
        await channel.close?.();
        await peer.close();
      }
    });
  });
}
