#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine (run as root), then `npm ci`.
# Idempotent: does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages:
#   iproute2 (ip: tests compare our netlink results with `ip -j`), nftables + libnftables1
#   (libnftables is loaded in-process through koffi; nft is used by tests to read back),
#   util-linux (unshare/mount for the throwaway test world), procps (sysctl in tests),
#   etcd-server (/usr/bin/etcd: the store tests start a private etcd on the world's loopback),
#   netavark + containernetworking-plugins (the peers `make bench` compares dnet with; the CNI
#   plugins pull in iptables).
#   docker.io (Docker Engine 20.10: dockerd, containerd, runc, the docker CLI: the Docker plugin tests
#   run a private dockerd inside the test world, containers on dnet networks) + busybox-static (the
#   test image, made offline from /bin/busybox).
APT_PKGS=(iproute2 nftables libnftables1 util-linux procps etcd-server netavark containernetworking-plugins
  docker.io busybox-static)
# podman (4.3, its CNI backend): the CNI plugin's real-runtime test (test/kernel/podman.test.ts).
APT_PKGS+=(podman)
# gcc + libc6-dev: `make build` compiles the CNI launcher (src/cni/launcher/dnet-cni.c; without a C
# compiler `dnet cni install` installs the Node plugin instead) and `make bench` its kernel floor.
APT_PKGS+=(gcc libc6-dev)
# openssl: the TLS tests make their CAs and certificates with it, as README "Securing dnet" shows
# (docker.io's docker CLI is the TLS client they drive too).
APT_PKGS+=(openssl)
# The embedded DNS resolver's tests and bench: bind9-dnsutils (dig) and busybox's nslookup are the
# clients inside sandboxes, dnsmasq-base (no service) the upstream, dnsperf the load generator,
# aardvark-dns (netavark's resolver) the peer `make bench` compares with.
APT_PKGS+=(bind9-dnsutils dnsmasq-base dnsperf aardvark-dns)
# iperf3: the overlay bench's throughput between hosts (bench/overlay.ts).
APT_PKGS+=(iperf3)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's etcd-server enables and starts a system etcd (127.0.0.1:2379) under systemd. The tests
  # only need the binary: stop and disable the service we have just installed.
  if [[ " ${missing[*]} " == *" etcd-server "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now etcd.service >/dev/null 2>&1 || true
  fi
  # Likewise docker.io: the tests start their own dockerd in a throwaway world; a system one would
  # change the machine's firewall (iptables FORWARD policy DROP).
  if [[ " ${missing[*]} " == *" docker.io "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now docker.service docker.socket containerd.service >/dev/null 2>&1 || true
  fi
fi

# npm dependencies, exactly as locked. Skipped when the lockfile has not changed since the last install.
stamp=node_modules/.install-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
