#!/usr/bin/env bash
# `make start`, last part: `dnet daemon` in the foreground, inside a throwaway world
# (scripts/in-world.sh), with its API socket in the checkout (.run/dnet.sock): a unix socket is a
# file, so clients outside the world's network namespace reach it. Prints what to type in another
# terminal. Ctrl-C stops the daemon; the world, and every network and sandbox in it, goes with it.
# DNET_SERVE_SOCKET puts the socket elsewhere (test/kernel/start.test.ts does).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${DNET_WORLD:-}" != 1 ]; then
  echo "run me with \`make start\` (inside a throwaway network namespace)" >&2
  exit 2
fi

SOCK=${DNET_SERVE_SOCKET:-$PWD/.run/dnet.sock}
DIR=/run/dnet-start
mkdir -p "$(dirname "$SOCK")" "$DIR"
H=unix://$SOCK
pid=$$ # the daemon's, once exec'd below (the world shares the machine's PID namespace)

cat <<EOT

dnet daemon: running in a throwaway world (pid $pid), serving $H
In another terminal, in this directory:

  export DNET_HOST=$H                      # or bin/dnet -H $H ...
  bin/dnet network create --subnet 10.90.0.0/24 demo
  bin/dnet sandbox create --name box
  bin/dnet network connect -p 8080:80 demo box
  bin/dnet sandbox inspect box             # its SandboxKey: the namespace to enter
  nsenter -t $pid -m nsenter --net=\$(bin/dnet sandbox inspect box | node -pe 'JSON.parse(require("fs").readFileSync(0))[0].SandboxKey') ip addr
  nsenter -t $pid -m -n ip link            # the world itself: bridges, veths
  DOCKER_HOST=$H docker network ls         # Docker's clients too, where the docker CLI is installed

Ctrl-C here stops the daemon; the world and everything in it goes away.

EOT
exec ./bin/dnet daemon --run-dir "$DIR/run" --data-dir "$DIR/data" --host "$H"
