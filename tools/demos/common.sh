# common.sh - what every lesson's demo script shares: start and stop servers
# on port 0, count socket states with ss, and print readable rows.
# Sourced by tools/demo and tools/bench, with $kit set.

: "${DEMO_PAUSE:=1}"   # seconds between steps, so a room can watch; 0 in tests
CLIENT="$kit/tools/client"
DEMO_PIDS=()

if [[ -t 1 ]]; then
  BOLD=$'\e[1m' RED=$'\e[31m' GREEN=$'\e[32m' DIM=$'\e[2m' OFF=$'\e[0m'
else
  BOLD='' RED='' GREEN='' DIM='' OFF=''
fi

cleanup() {
  local pid
  for pid in "${DEMO_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  DEMO_PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pause() { [[ $DEMO_PAUSE == 0 ]] || sleep "${1:-$DEMO_PAUSE}"; }
title() { printf '\n%s%s%s\n' "$BOLD" "$*" "$OFF"; }
say() { printf '%s\n' "$*"; }
run_shown() { printf '%s$ %s%s\n' "$DIM" "$*" "$OFF"; }

# close_inherited_fds: close every descriptor above 2 in this (sub)shell.
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    (( fd > 2 )) && eval "exec $fd>&-"
  done
  return 0
}

# start_server BINARY [OPTIONS...]: sets PORT and SERVER_PID, log in SERVER_LOG.
start_server() {
  local bin=$1; shift
  SERVER_LOG=$(mktemp)
  local out; out=$(mktemp)
  # Only stdin, stdout and stderr: descriptors the demo's own shell was
  # given (by a terminal, an IDE, make) would add to the fd counts shown.
  ( close_inherited_fds; exec "$bin" --port 0 "$@" ) >"$out" 2>"$SERVER_LOG" &
  SERVER_PID=$!
  DEMO_PIDS+=("$SERVER_PID")
  local i
  for (( i = 0; i < 250; i++ )); do
    grep -q '^listening on ' "$out" && break
    sleep 0.02
  done
  PORT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$out")
  rm -f "$out"
  [[ -n $PORT ]] || { say "the server did not start: $(cat "$SERVER_LOG")"; exit 1; }
}

stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  rm -f "$SERVER_LOG"
}

server_count() { ss -Htan state "$1" "( sport = :$PORT )" | wc -l; }
client_count() { ss -Htan state "$1" "( dport = :$PORT )" | wc -l; }
fd_count() { ls "/proc/$SERVER_PID/fd" 2>/dev/null | wc -l; }
thread_count() { awk '/^Threads:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null; }

# bar N [COLOR]: a row of N marks (at most 50), so counts read from the back row.
bar() {
  local n=$1 color=${2:-} marks
  (( n > 50 )) && n=50
  printf -v marks '%*s' "$n" ''
  printf '%s%s%s' "$color" "${marks// /#}" "$OFF"
}
