/** Whether the page hears the event stream: said in words, the dot only repeats it. */

/** `Live` while the stream is open, `Reconnecting…` while it is not, `Connecting…` before the first open. */
export function ConnectionIndicator({ connected }: { connected: boolean | null }) {
  const label = connected === null ? 'Connecting…' : connected ? 'Live' : 'Reconnecting…';
  const tone = connected === null ? 'muted' : connected ? 'ok' : 'warn';
  return (
    <span className={`connection connection-${tone}`} role="status" title="Updates from the event stream">
      <span className="connection-dot" aria-hidden="true" />
      {label}
    </span>
  );
}
