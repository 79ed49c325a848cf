/**
 * The installation's notification channels: name, type, where each sends, whether it is enabled,
 * and for a deployer a test send (its outcome shown in the row) or `Enable` for a disabled one.
 */
import type { Channel } from '../api/types.js';
import { formatTime } from '../format.js';

/** How a channel's last test send went, as the row shows it. */
export type TestOutcome = { kind: 'sending' } | { kind: 'delivered' } | { kind: 'refused'; answer: string };

/** The table of `channels`; the buttons are drawn only when `mayAct`. */
export function ChannelsTable({
  channels,
  outcomes,
  mayAct,
  onTest,
  onEnable,
}: {
  channels: readonly Channel[];
  outcomes: ReadonlyMap<string, TestOutcome>;
  mayAct: boolean;
  onTest: (channel: Channel) => void;
  onEnable: (channel: Channel) => void;
}) {
  if (channels.length === 0)
    return <p className="muted">No channel is configured (channels: in the control-plane file).</p>;
  return (
    // Focusable, so the keyboard can scroll it sideways on a phone.
    <div className="table-wrap" tabIndex={0} role="region" aria-labelledby="channels-title">
      <table className="data channels-table" aria-labelledby="channels-title">
        <thead>
          <tr>
            <th scope="col">Channel</th>
            <th scope="col">Type</th>
            <th scope="col">Target</th>
            <th scope="col">State</th>
            {mayAct && <th scope="col">Test</th>}
          </tr>
        </thead>
        <tbody>
          {channels.map((channel) => {
            const outcome = outcomes.get(channel.name);
            return (
              <tr key={channel.name}>
                <th scope="row">{channel.name}</th>
                <td>{channel.type}</td>
                <td className="channel-target">{channel.target}</td>
                <td>
                  {channel.disabled ? (
                    <>
                      <span className="badge badge-bad">disabled</span>
                      <span className="notify-reason">
                        {' '}
                        {channel.disabledReason ?? ''}
                        {channel.disabledAt !== null && (
                          <span className="muted"> (since {formatTime(channel.disabledAt)})</span>
                        )}
                      </span>
                    </>
                  ) : (
                    <span className="badge badge-ok">enabled</span>
                  )}
                </td>
                {mayAct && (
                  <td className="channel-actions">
                    {channel.disabled ? (
                      <button type="button" onClick={() => onEnable(channel)}>
                        Enable<span className="visually-hidden"> {channel.name}</span>
                      </button>
                    ) : (
                      <button
                        type="button"
                        onClick={() => onTest(channel)}
                        disabled={outcome?.kind === 'sending'}
                      >
                        Send test<span className="visually-hidden"> to {channel.name}</span>
                      </button>
                    )}
                    <span className="channel-outcome" role="status">
                      {outcome?.kind === 'sending' && <span className="muted">Sending…</span>}
                      {outcome?.kind === 'delivered' && <span className="badge badge-ok">Delivered</span>}
                      {outcome?.kind === 'refused' && (
                        <span className="channel-refused">
                          <span className="badge badge-bad">Refused</span> {outcome.answer}
                        </span>
                      )}
                    </span>
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
