/** The field for a code from an authenticator app (or a recovery code), as every dialog asks for it. */

/** A TOTP code (6 digits) or a recovery code, as the API takes them. */
const OTP_PATTERN = '[0-9A-Za-z\\-]{6,32}';

/** A labelled, required code input; `onChange` gets the value without spaces. */
export function OtpField({
  value,
  onChange,
  label = 'Authenticator code',
}: {
  value: string;
  onChange: (code: string) => void;
  label?: string;
}) {
  return (
    <label className="field">
      <span>{label}</span>
      <input
        value={value}
        onChange={(e) => onChange(e.target.value.trim())}
        inputMode="numeric"
        autoComplete="one-time-code"
        pattern={OTP_PATTERN}
        required
      />
    </label>
  );
}
