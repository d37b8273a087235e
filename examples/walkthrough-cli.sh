#!/usr/bin/env bash
# `make start`, part 1: the dnet daemon and its CLI, inside a throwaway world (scripts/in-world.sh:
# a network and mount namespace of its own, with a private tmpfs on /run).
#
# Starts `dnet daemon` in the background with its run and data directories under the world's /run
# (so nothing persists on the machine), waits for it, then with the CLI: creates a network, two
# sandboxes, connects them (one publishing a port), shows that they reach each other and that the
# published port answers on the host's 127.0.0.1, cleans up, and stops the daemon with SIGTERM.
# test/kernel/start.test.ts runs this script as it stands.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${DNET_WORLD:-}" != 1 ]; then
  echo "run me with \`make start\` (inside a throwaway network namespace)" >&2
  exit 2
fi

DIR=${DNET_WALKTHROUGH_DIR:-/run/dnet-walkthrough}
SOCK=$DIR/run/dnet.sock
LOG=$DIR/daemon.log
export DNET_HOST=unix://$SOCK
mkdir -p "$DIR"

dnet() { ./bin/dnet "$@"; }
# Prints a command as a user would type it, then runs it.
show() {
  echo "\$ dnet $*"
  dnet "$@"
}
# Node one-liners for the traffic: a TCP server that greets its client, and a client.
SERVER='require("net").createServer((s) => s.end(`hello from ${process.argv[1]}, you are ${s.remoteAddress}`)).listen(+process.argv[2], "0.0.0.0", () => console.log("listening"))'
CLIENT='const s = require("net").connect(+process.argv[2], process.argv[1]); s.setTimeout(3000, () => { console.log("timed out"); s.destroy(); }); s.on("data", (d) => process.stdout.write(d)).on("end", () => console.log()).on("error", (e) => console.log(`failed: ${e.code}`))'

daemon_pid=
servers=()
cleanup() {
  local status=$?
  [ "${#servers[@]}" -gt 0 ] && kill "${servers[@]}" 2>/dev/null || true
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$LOG" ]; then
    echo "walkthrough failed (exit $status); the daemon's log:" >&2
    tail -n 20 "$LOG" >&2
  fi
}
trap cleanup EXIT

echo "dnet walkthrough, part 1: the daemon and its CLI, in a throwaway world"
echo
echo "starting: dnet daemon --run-dir $DIR/run --data-dir $DIR/data --log-level info 2>$LOG &"
./bin/dnet daemon --run-dir "$DIR/run" --data-dir "$DIR/data" --log-level info 2>"$LOG" &
daemon_pid=$!
# The socket appears once the daemon has restored its state and created the pre-defined networks.
for _ in $(seq 300); do
  [ -S "$SOCK" ] && break
  if ! kill -0 "$daemon_pid" 2>/dev/null; then
    echo "the daemon did not start:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  sleep 0.1
done
[ -S "$SOCK" ] || { echo "the daemon did not answer within 30 s" >&2; exit 1; }
show version
echo

show network create --subnet 10.89.0.0/24 web
show sandbox create --name a --hostname a
show sandbox create --name b --hostname b
show network connect --alias app-a web a
show network connect -p 8080:80 web b
show network inspect web
echo

# Each sandbox's namespace (SandboxKey) and address, from `dnet sandbox inspect`.
info=$(dnet sandbox inspect a b | node -e '
  const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
  console.log(s.flatMap((x) => [x.SandboxKey, x.Networks.web.IPAddress]).join(" "));')
read -r a_key a_ip b_key b_ip <<<"$info"
echo "a: $a_ip in $a_key"
echo "b: $b_ip in $b_key"
echo "a's interfaces and routes (nsenter --net=$a_key ip ...):"
nsenter --net="$a_key" ip -br addr
nsenter --net="$a_key" ip route
echo

# A server in each sandbox's namespace on port 80 (b's is its published container port).
for x in a b; do
  key_var=${x}_key
  nsenter --net="${!key_var}" node -e "$SERVER" "$x" 80 >"$DIR/server-$x.out" &
  servers+=("$!")
done
for x in a b; do
  for _ in $(seq 100); do
    grep -q listening "$DIR/server-$x.out" 2>/dev/null && break
    sleep 0.05
  done
done
printf '%-36s %s\n' "a -> b $b_ip:80:" "$(nsenter --net="$a_key" node -e "$CLIENT" "$b_ip" 80)"
printf '%-36s %s\n' "b -> a $a_ip:80:" "$(nsenter --net="$b_key" node -e "$CLIENT" "$a_ip" 80)"
printf '%-36s %s\n' "host -> 127.0.0.1:8080 (published):" "$(node -e "$CLIENT" 127.0.0.1 8080)"
kill "${servers[@]}"
wait "${servers[@]}" 2>/dev/null || true
servers=()
echo

echo "cleaning up"
show network disconnect web a
show network disconnect web b
show network rm web
show sandbox rm a b
show network ls
echo

echo "stopping the daemon: kill -TERM $daemon_pid"
kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=
echo "daemon stopped: exit $status; socket left: $([ -e "$SOCK" ] && echo yes || echo no)"
echo
echo "the daemon's log ($LOG: JSON lines, one per event):"
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
  for (const l of lines) {
    const e = JSON.parse(l);
    const id = e.requestId ? ` [${e.requestId.slice(0, 8)}]` : "";
    const ms = e.durationMs !== undefined ? ` ${e.durationMs} ms` : "";
    console.log(`  ${e.level.padEnd(5)} ${e.event.padEnd(8)} ${e.msg}${ms}${id}`);
  }' "$LOG"
echo
echo "done: the daemon's state was under this world's /run, which goes away with the world"
exit "$status"
