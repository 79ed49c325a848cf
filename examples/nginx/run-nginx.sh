#!/bin/sh
# Writes nginx.conf from nginx.conf.template with this folder's absolute path, writes a starting
# upstream.conf if there is none yet, and runs nginx in the foreground. Ctrl-C stops it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/tmp"
sed "s|@HERE@|$here|g" "$here/nginx.conf.template" >"$here/nginx.conf"
# nginx will not start without the file it includes. Until the first deploy there is no instance,
# so the one server is marked down and nginx answers 502; shipcheck replaces the file on deploy.
if [ ! -e "$here/upstream.conf" ]; then
  printf 'upstream app {\n    server 127.0.0.1:9 down;\n}\n' >"$here/upstream.conf"
fi
exec nginx -p "$here" -c "$here/nginx.conf"
