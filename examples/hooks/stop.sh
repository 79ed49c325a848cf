#!/bin/sh
# fleet.hooks.stop: stops the instance at $SHIPCHECK_ADDRESS (SIGTERM, then SIGKILL after 10 s).
set -eu
# A process counts while it runs; a zombie (exited, not yet reaped) does not.
running() { kill -0 "$1" 2>/dev/null && ! grep -qs '^[0-9]* (.*) Z' "/proc/$1/stat"; }
state="${SHIPCHECK_HOOKS_STATE:-$(pwd)/.hooks-state}"
for file in "$state"/*.json; do
  [ -e "$file" ] || continue
  grep -q "\"address\":\"$SHIPCHECK_ADDRESS\"" "$file" || continue
  pid=$(sed 's/.*"pid":\([0-9]*\).*/\1/' "$file")
  kill -TERM "$pid" 2>/dev/null || true
  tries=0
  while running "$pid" && [ $tries -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
done
