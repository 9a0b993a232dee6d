# common.sh - what every lesson's demo script shares: start and stop servers
# on port 0, count socket states with ss, print readable rows, and record the
# bug run and the fix run with tools/timeline into one picture.
# Sourced by tools/demo and tools/bench, with $kit set. The socket counts,
# launch_server, halt and the /proc readers come from tools/kit.sh, which
# the tests use too.

source "$kit/tools/kit.sh"

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
  stop_recording
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

# start_server BINARY [OPTIONS...]: sets PORT and SERVER_PID, log in SERVER_LOG.
start_server() {
  local bin=$1 out; shift
  SERVER_LOG=$(mktemp); out=$(mktemp)
  launch_server "$bin" "$out" "$SERVER_LOG" "$@"
  local ok=$?
  DEMO_PIDS+=("$SERVER_PID")
  rm -f "$out"
  (( ok == 0 )) || { say "$LAUNCH_ERROR"; exit 1; }
}

stop_server() {
  stop_recording
  halt "$SERVER_PID" 10000
  rm -f "$SERVER_LOG"
}

# bar N [COLOR]: a row of N marks (at most 50), so counts read from the back row.
bar() {
  local n=$1 color=${2:-} marks
  (( n > 50 )) && n=50
  printf -v marks '%*s' "$n" ''
  printf '%s%s%s' "$color" "${marks// /#}" "$OFF"
}

# ---- the picture: tools/timeline records each run, one SVG shows them all --
#
# A demo calls start_recording after it starts a server and before its
# clients, once for the bug run and once for the fix run; stop_server (or
# stop_recording, to leave out what comes after) stops the recorder, and
# draw_timeline at the end draws every recording of the demo, bug above fix,
# on one time axis, and prints the picture's path. Nothing is opened.

TIMELINE="$kit/tools/timeline"
: "${DEMO_OUT:=$kit/bench/out/demo}"   # the recordings (.tl) and the picture (.svg)
DEMO_RECORDINGS=()
RECORDER_PID=''

# start_recording LABEL [PREFIX...]: record $PORT from now on: every
# connection on it, server side and client side, with the fds and threads of
# $SERVER_PID and the close lines of $SERVER_LOG. PREFIX runs the recorder
# where the server is (lesson 06: tools/netpair srv NET, its network
# namespace). Returns once the recorder has taken its first sample.
start_recording() {
  local label=$1; shift
  stop_recording
  if [[ ! -x $TIMELINE ]]; then
    say "${DIM}(no $TIMELINE, so no picture this time: run make)${OFF}"
    return 0
  fi
  mkdir -p "$DEMO_OUT" || return 0
  local rec="$DEMO_OUT/${slug:-demo}-$(( ${#DEMO_RECORDINGS[@]} + 1 )).tl"
  rm -f "$rec"
  # --new-only: a port the kernel picked may still have TIME-WAIT sockets
  # of an earlier server that had the same number; they are not this run's.
  ( close_inherited_fds
    exec "$@" "$TIMELINE" record --port "$PORT" --pid "$SERVER_PID" --log "$SERVER_LOG" \
      --new-only --title "$label" --out "$rec" ) </dev/null 2>"$rec.err" &
  RECORDER_PID=$!
  DEMO_PIDS+=("$RECORDER_PID")
  local i
  for (( i = 0; i < 250; i++ )); do   # the header comes after the first sample
    grep -q '^timeline 1' "$rec" 2>/dev/null && break
    kill -0 "$RECORDER_PID" 2>/dev/null || break
    sleep 0.02
  done
  if grep -q '^timeline 1' "$rec" 2>/dev/null; then
    DEMO_RECORDINGS+=("$rec")
  else
    say "${DIM}(the recorder did not start, so this run is not in the picture: $(head -c 200 "$rec.err"))${OFF}"
    stop_recording
  fi
}

# stop_recording: stop the recorder, if one runs (SIGTERM: it ends its file).
stop_recording() {
  [[ -n ${RECORDER_PID:-} ]] || return 0
  local pid=$RECORDER_PID p kept=()
  RECORDER_PID=''
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  for p in "${DEMO_PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
  DEMO_PIDS=("${kept[@]}")
}

# draw_timeline TITLE: draw this demo's recordings, stacked on one time axis,
# into $DEMO_OUT/NN-slug.svg and print its path.
draw_timeline() {
  stop_recording
  (( ${#DEMO_RECORDINGS[@]} > 0 )) || return 0
  local svg="$DEMO_OUT/${slug:-demo}.svg" rec
  if "$TIMELINE" svg --title "$1" "${DEMO_RECORDINGS[@]}" >"$svg.tmp" 2>"$svg.err"; then
    mv "$svg.tmp" "$svg"
    rm -f "$svg.err"
    for rec in "${DEMO_RECORDINGS[@]}"; do [[ -s $rec.err ]] || rm -f "$rec.err"; done
    title "The picture: each connection's states over time, the bug above the fix"
    say "$svg"
    say "${DIM}(open it in a browser; the recordings beside it: tools/timeline lanes FILE.tl)${OFF}"
  else
    say "timeline svg could not draw the picture: $(head -c 300 "$svg.err")"
    rm -f "$svg.tmp"
  fi
}
