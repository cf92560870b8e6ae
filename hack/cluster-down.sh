#!/usr/bin/env bash
# Stop what cluster-up.sh started -- only the PIDs it recorded, and only
# while their command line still names the state dir, so a recycled PID is
# never hit -- then delete the network namespace and the state.
# MESHMON_KEEP=1 keeps the state dir (logs, etcd data).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
NS=$CLUSTER_NETNS
RUN=${MESHMON_CLUSTER_RUN:-$MESHMON_CACHE/cluster-$NS}
[ -f "$RUN/netns" ] && NS=$(cat "$RUN/netns")
ours() {
  [ -r "/proc/$1/cmdline" ] || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ] || return 1
  local c; c=$(tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null)
  [[ $c == *"$RUN"* ]]
}
LINES=()
[ -f "$RUN/pids" ] && mapfile -t LINES < <(tac "$RUN/pids")
alive() { local a=1 l; for l in "${LINES[@]}"; do set -- $l; ours "$2" && a=0; done; return $a; }
for l in "${LINES[@]}"; do set -- $l; ours "$2" && kill -TERM "$2" 2>/dev/null; done
for _ in $(seq 30); do alive || break; sleep 0.1; done
# The API server may wait up to 60 s for open watches; the state is discarded.
for l in "${LINES[@]}"; do set -- $l; ours "$2" && kill -KILL "$2" 2>/dev/null; done
for _ in $(seq 30); do alive || break; sleep 0.1; done
[ -f "$RUN/pids" ] && : > "$RUN/pids"
if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$NS"; then
  ip netns delete "$NS" || log "could not delete network namespace $NS"
fi
[ "${MESHMON_KEEP:-0}" = 1 ] || rm -rf "$RUN"
