#!/bin/sh
# fleet.hooks.stop: stops the instance at $SHIPCHECK_ADDRESS (SIGTERM, then SIGKILL after 10 s).
set -eu
state="${SHIPCHECK_HOOKS_STATE:-$(pwd)/.hooks-state}"
for file in "$state"/*.json; do
  [ -e "$file" ] || continue
  grep -q "\"address\":\"$SHIPCHECK_ADDRESS\"" "$file" || continue
  pid=$(sed 's/.*"pid":\([0-9]*\).*/\1/' "$file")
  kill -TERM "$pid" 2>/dev/null || true
  tries=0
  while kill -0 "$pid" 2>/dev/null && [ $tries -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
done
