# kit.sh - the shell helpers that the tests (tests/helpers.bash), the demos
# (tools/demos/common.sh) and tools/bench share: start and stop a server on
# port 0, count its sockets with ss, read its descriptors, threads and CPU
# from /proc, and tell the time. Sourced, never run.
#
# The state counts use $PORT and the /proc readers $SERVER_PID, as set by
# launch_server. Nothing here prints on success or exits: each caller fails
# in its own way (a test with `fail`, a demo with a message and exit).
#
# These run hundreds of times a test run, so none starts a process where a
# bash builtin does the job (a run of the whole kit once started 75,000
# processes; forking them was most of its CPU time).

# ---- time ----------------------------------------------------------------

# clock_ms: set NOW_MS to the wall clock in ms (bash's EPOCHREALTIME).
clock_ms() { local t=${EPOCHREALTIME//[.,]/}; NOW_MS=$(( t / 1000 )); }
now_ms() { clock_ms; echo "$NOW_MS"; }

# nap SECONDS: sleep at least SECONDS (0.05, 1.5). Inside bats, without a
# sleep process: wait for a line on a FIFO that nobody writes (opened
# read-write, so the open does not block); read's timeout (status > 128)
# is the nap, and the clock decides whether it was long enough (a nap cut
# short would let a "for 800 ms" check pass in no time). Anything else,
# or outside bats, falls back to sleep.
nap() {
  local fifo=${BATS_RUN_TMPDIR:-}/nap.fifo whole=${1%%.*} frac until left secs rc
  [[ $1 == *.* ]] && frac=${1#*.}000 || frac=000
  clock_ms; until=$(( NOW_MS + 10#${whole:-0} * 1000 + 10#${frac:0:3} ))
  if [[ -n ${BATS_RUN_TMPDIR:-} ]] && { [[ -p $fifo ]] || mkfifo "$fifo" 2>/dev/null; }; then
    while clock_ms; (( (left = until - NOW_MS) > 0 )); do
      printf -v secs '%d.%03d' $(( left / 1000 )) $(( left % 1000 ))
      rc=0; { read -r -t "$secs" _ <>"$fifo"; } 2>/dev/null || rc=$?
      (( rc > 128 )) || { sleep "$secs"; return 0; }
    done
    return 0
  fi
  sleep "$1"
}

# ---- starting and stopping a server --------------------------------------

# close_inherited_fds: close every descriptor above 2 in this (sub)shell, so
# a server started from it holds only its own (a terminal, an IDE, make or
# bats may have given the shell more, and they would add to its fd count).
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    (( fd > 2 )) && eval "exec $fd>&-"
  done
  return 0
}

# launch_server BINARY OUT LOG [OPTIONS...]: start BINARY --port 0 OPTIONS in
# the background, its stdout in OUT and stderr in LOG (both emptied first),
# under $SERVER_WRAPPER if set (valgrind, say). Waits up to 10 s for its
# ready line, "listening on HOST:PORT". Sets SERVER_PID and PORT; on failure
# returns 1 with LAUNCH_ERROR saying why.
launch_server() {
  local bin=$1 out=$2 log=$3 ready deadline; shift 3
  LAUNCH_ERROR=
  # Emptied here, not only by the child's redirection: the wait below may
  # look before the child has truncated them, and must not read the ready
  # line of an earlier server.
  : >"$out"; : >"$log"
  # shellcheck disable=SC2086  # SERVER_WRAPPER is a command with its options
  ( close_inherited_fds; exec ${SERVER_WRAPPER:-} "$bin" --port 0 "$@" ) >"$out" 2>"$log" &
  SERVER_PID=$!
  clock_ms; deadline=$(( NOW_MS + 10000 ))
  # (the server writes its ready line in one write(): whole, or not yet)
  until ready=$(<"$out") && [[ $ready == listening\ on\ * ]]; do
    clock_ms
    if (( NOW_MS >= deadline )) || process_gone "$SERVER_PID"; then break; fi
    nap 0.02
  done
  ready=${ready%%$'\n'*}
  if [[ $ready =~ ^listening\ on\ .*:([0-9]+)$ ]]; then
    PORT=${BASH_REMATCH[1]}
    return 0
  fi
  if process_gone "$SERVER_PID"; then
    LAUNCH_ERROR="the server exited before it printed 'listening on ...'; stderr: $(head -c 500 "$log")"
  elif [[ -z $ready ]]; then
    LAUNCH_ERROR="the server did not print 'listening on ...' within 10 s; stderr: $(head -c 500 "$log")"
  else
    LAUNCH_ERROR="cannot read the port from the ready line: $ready"
  fi
  return 1
}

# process_gone PID: true once PID has exited (a zombie counts as exited).
process_gone() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
  stat=${stat##*) }   # the state follows "(comm) ", and comm may hold spaces
  [[ -z $stat || $stat == Z* ]]
}

# halt PID [MS]: SIGTERM PID and reap it, waiting up to MS ms (10000) for it
# to exit; SIGKILL if it does not. Sets HALT_STATUS to its exit status.
# Returns 1 if it had to be killed. PID must be a child of this shell.
halt() {
  local pid=$1 ms=${2:-10000} deadline rc=0
  HALT_STATUS=0
  kill -TERM "$pid" 2>/dev/null
  clock_ms; deadline=$(( NOW_MS + ms ))
  until process_gone "$pid"; do
    clock_ms
    if (( NOW_MS >= deadline )); then kill -KILL "$pid" 2>/dev/null; rc=1; break; fi
    nap 0.02
  done
  wait "$pid" 2>/dev/null || HALT_STATUS=$?
  return "$rc"
}

# ---- sockets (ss) ----------------------------------------------------------

# server_sockets STATE: the server side of $PORT in STATE (ss -H: no header).
server_sockets() { ss -Htan state "$1" "( sport = :$PORT )"; }
# client_sockets STATE: the client side (sockets whose peer is $PORT).
client_sockets() { ss -Htan state "$1" "( dport = :$PORT )"; }
server_count() { count_output server_sockets "$1"; }
client_count() { count_output client_sockets "$1"; }
# count_output COMMAND...: how many lines COMMAND prints. In a test, through a
# scratch file rather than $(...): a poll does this every 20-50 ms, and each
# $(...) is one more copy of the test's shell (the (sub)shell's PID keeps the
# file its own).
count_output() {
  local lines=() scratch=${BATS_TEST_TMPDIR:+$BATS_TEST_TMPDIR/.lines.$BASHPID}
  if [[ -n $scratch ]]; then
    "$@" >"$scratch"; mapfile -t lines <"$scratch"
  else
    mapfile -t lines < <("$@")
  fi
  echo "${#lines[@]}"
}

# ---- the server's process (/proc) ------------------------------------------

# fd_count: open descriptors of $SERVER_PID.
fd_count() { local fds=("/proc/$SERVER_PID/fd/"*); [[ -e ${fds[0]} ]] || fds=(); echo "${#fds[@]}"; }
thread_count() { proc_status_field Threads "$SERVER_PID"; }

# proc_status_field NAME PID: NAME's value in /proc/PID/status (VmRSS in kB, ...).
proc_status_field() {
  local name value
  while read -r name value _; do
    [[ $name == "$1:" ]] && { echo "$value"; return; }
  done <"/proc/$2/status"
}

# cpu_ms PID: CPU time (user + system) the process has used, in ms, from
# fields 14 and 15 of /proc/PID/stat (clock ticks).
cpu_ms() {
  local stat fields
  : "${CLK_TCK:=$(getconf CLK_TCK)}"
  read -r stat <"/proc/$1/stat"
  read -ra fields <<<"${stat##*) }"   # after "(comm) ": field 3 is fields[0]
  echo $(( (fields[11] + fields[12]) * 1000 / CLK_TCK ))
}

# proc_state PID: its state letter (R running or runnable, S asleep, Z ...).
proc_state() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
  stat=${stat##*) }
  echo "${stat%% *}"
}
