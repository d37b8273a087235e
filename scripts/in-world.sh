#!/usr/bin/env bash
# Runs a command inside a throwaway world: a new network namespace and a new mount namespace
# (private propagation) with a fresh tmpfs on /run, loopback up. Nothing it creates in the
# kernel outlives it, and the host's interfaces, routes and firewall are never seen.
set -euo pipefail
exec unshare --net --mount --propagation private -- /bin/sh -c '
  mount -t tmpfs -o mode=0755 dnet-world /run &&
  ip link set lo up &&
  export DNET_WORLD=1 &&
  exec "$@"' in-world "$@"
