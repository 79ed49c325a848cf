/** A new token's secret, shown once, with a way to copy it. */
import { useRef, useState } from 'react';

/** How long the `Copied` note stays. */
const COPIED_NOTE_MS = 3000;

/** The secret and a copy button; where the clipboard is out of reach, the text is selected instead. */
export function NewTokenSecret({
  name,
  secret,
  onDone,
}: {
  name: string;
  secret: string;
  onDone: () => void;
}) {
  const ref = useRef<HTMLElement>(null);
  const [note, setNote] = useState<string | null>(null);

  const selectText = (): void => {
    const element = ref.current;
    const selection = window.getSelection();
    if (!element || !selection) return;
    const range = document.createRange();
    range.selectNodeContents(element);
    selection.removeAllRanges();
    selection.addRange(range);
  };

  const copy = async (): Promise<void> => {
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(secret);
      setNote('Copied.');
    } catch {
      // A page served over plain HTTP (not localhost) has no clipboard API: let the person copy it.
      selectText();
      setNote('Selected: press Ctrl+C (⌘C) to copy.');
    }
    window.setTimeout(() => setNote(null), COPIED_NOTE_MS);
  };

  return (
    <div className="new-token notice" role="status">
      <p>
        <strong>Token {name} created.</strong> Copy it now: it is shown only this once.
      </p>
      <div className="row">
        <code ref={ref} data-testid="new-token" className="secret">
          {secret}
        </code>
        <button type="button" onClick={() => void copy()}>
          Copy token
        </button>
        <button type="button" onClick={onDone}>
          Done
        </button>
        {note && <span aria-live="polite">{note}</span>}
      </div>
    </div>
  );
}
