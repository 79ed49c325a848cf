#!/bin/sh
# fleet.hooks.list: prints every running instance as a JSON array of {"address", "version", ...}.
set -eu
state="${SHIPCHECK_HOOKS_STATE:-$(pwd)/.hooks-state}"
printf '['
sep=''
for file in "$state"/*.json; do
  [ -e "$file" ] || continue
  pid=$(sed 's/.*"pid":\([0-9]*\).*/\1/' "$file")
  # An instance whose process is gone is not running, whatever its file says.
  kill -0 "$pid" 2>/dev/null || continue
  printf '%s%s' "$sep" "$(cat "$file")"
  sep=','
done
printf ']\n'
