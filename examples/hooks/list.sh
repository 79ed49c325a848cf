#!/bin/sh
# fleet.hooks.list: prints every running instance as a JSON array of {"address", "version", ...}.
set -eu
# A process counts while it runs; a zombie (exited, not yet reaped) does not.
running() { kill -0 "$1" 2>/dev/null && ! grep -qs '^[0-9]* (.*) Z' "/proc/$1/stat"; }
state="${SHIPCHECK_HOOKS_STATE:-$(pwd)/.hooks-state}"
printf '['
sep=''
for file in "$state"/*.json; do
  [ -e "$file" ] || continue
  pid=$(sed 's/.*"pid":\([0-9]*\).*/\1/' "$file")
  # An instance whose process is gone is not running, whatever its file says.
  running "$pid" || continue
  printf '%s%s' "$sep" "$(cat "$file")"
  sep=','
done
printf ']\n'
