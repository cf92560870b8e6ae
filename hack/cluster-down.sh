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
any_alive() { local l name pid; for l in "$@"; do read -r name pid <<<"$l"; ours "$pid" && return 0; done; return 1; }
stop_all() { # grace (tenths of a second) "name pid"... : SIGTERM, then SIGKILL after the grace
  local grace=$1 l name pid; shift
  for l in "$@"; do read -r name pid <<<"$l"; ours "$pid" && kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq "$grace"); do any_alive "$@" || return 0; sleep 0.1; done
  for l in "$@"; do read -r name pid <<<"$l"; ours "$pid" && kill -KILL "$pid" 2>/dev/null; done
  for _ in $(seq 30); do any_alive "$@" || return 0; sleep 0.1; done
}
LINES=() SIM=() REST=()
[ -f "$RUN/pids" ] && mapfile -t LINES < <(tac "$RUN/pids")
# The Prometheus that meshsim (make demo's simulated data plane) runs, as
# meshsim recorded it.
[ -f "$RUN/meshsim/pids" ] && mapfile -t REST < "$RUN/meshsim/pids"
for l in "${LINES[@]}"; do
  case $l in meshsim\ *) SIM+=("$l") ;; *) REST+=("$l") ;; esac
done
# meshsim goes first, with time to stop its Prometheus cleanly (which waits
# up to 10 s for it); a Prometheus it could not stop goes with the rest.
stop_all 150 "${SIM[@]}"
# The API server may wait up to 60 s for open watches; the state is discarded.
stop_all 30 "${REST[@]}"
[ -f "$RUN/pids" ] && : > "$RUN/pids"
if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$NS"; then
  ip netns delete "$NS" || log "could not delete network namespace $NS"
fi
[ "${MESHMON_KEEP:-0}" = 1 ] || rm -rf "$RUN"
