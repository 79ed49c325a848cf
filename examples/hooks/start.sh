#!/bin/sh
# fleet.hooks.start: starts one instance of the sample app on this machine and prints its address.
# shipcheck sets SHIPCHECK_SERVICE, SHIPCHECK_VERSION and SHIPCHECK_INSTANCE. The instance outlives
# the control plane that asked for it: any replica can find it again through list.sh.
set -eu
state="${SHIPCHECK_HOOKS_STATE:-$(pwd)/.hooks-state}"
app="${SHIPCHECK_HOOKS_APP:-$(cd "$(dirname "$0")/.." && pwd)/app/server.js}"
mkdir -p "$state"
name="$SHIPCHECK_SERVICE-$SHIPCHECK_VERSION-$SHIPCHECK_INSTANCE"
# Idempotent per version and index: an instance already running is reported, not started twice.
if [ -e "$state/$name.json" ]; then
  pid=$(sed 's/.*"pid":\([0-9]*\).*/\1/' "$state/$name.json")
  if kill -0 "$pid" 2>/dev/null && ! grep -qs '^[0-9]* (.*) Z' "/proc/$pid/stat"; then
    sed 's/.*"address":"\([^"]*\)".*/{"address":"\1"}/' "$state/$name.json"
    exit 0
  fi
fi
# A free port, chosen by the kernel.
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
# setsid: the app belongs to no control plane's process group, so a replica's crash leaves it running.
PORT=$port APP_VERSION=$SHIPCHECK_VERSION setsid node "$app" "$state" >"$state/$name.log" 2>&1 </dev/null &
pid=$!
printf '{"address":"127.0.0.1:%s","version":"%s","instance":%s,"pid":%s}\n' \
  "$port" "$SHIPCHECK_VERSION" "$SHIPCHECK_INSTANCE" "$pid" >"$state/$name.json"
printf '{"address":"127.0.0.1:%s"}\n' "$port"
