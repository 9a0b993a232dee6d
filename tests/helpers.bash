# helpers.bash - what every tests/NN-*.bats shares.
#
# A test starts the server under test on port 0, reads the real port from its
# ready line, plays clients against it with tools/client, and looks at the
# sockets with `ss`. Nothing sleeps-then-asserts: every check polls with a
# deadline. Every process a test starts is stopped by its PID in teardown.
#
# The server under test is $SERVER; by default the lesson's own build.

KIT=${BATS_TEST_DIRNAME%/tests}
CLIENT="$KIT/tools/client"
# launch_server, halt, the state counts, fd_count, cpu_ms, now_ms, nap, ...:
# shared with the demos and tools/bench.
source "$KIT/tools/kit.sh"

# bats runs this file again for every test: what it does here is paid
# hundreds of times a run (see tools/kit.sh on processes).

# load_library NAME: source bats-support or bats-assert as bats_load_library
# does, without the dirname process their load.bash starts per file. Any line
# of load.bash not of the expected shape hands the job to bats_load_library.
load_library() {
  local dir line files=() paths
  IFS=: read -ra paths <<<"${BATS_LIB_PATH:-/usr/lib/bats}"
  for dir in "${paths[@]}"; do
    [[ -f $dir/$1/load.bash ]] || continue
    while IFS= read -r line; do
      if [[ $line =~ ^source\ \"\$\(dirname\ \"\$\{BASH_SOURCE\[0\]\}\"\)(/[^\"]+)\"$ ]]; then
        files+=("$dir/$1${BASH_REMATCH[1]}")
      elif [[ -n $line && $line != \#* ]]; then
        bats_load_library "$1"; return
      fi
    done <"$dir/$1/load.bash"
    for line in "${files[@]}"; do source "$line"; done
    return
  done
  bats_load_library "$1"
}
load_library bats-support
load_library bats-assert

# How long a polled condition may take before the test fails. Generous: a
# loaded 2-core machine (or valgrind) is slow, and a passing check returns
# as soon as it holds.
: "${WAIT_MS:=5000}"

# The lesson this test file is about, from its name: 01-close-wait-leak.
LESSON=${BATS_TEST_FILENAME##*/}; LESSON=${LESSON%.bats}

server_binary() {
  printf '%s\n' "${SERVER:-$KIT/lessons/$LESSON/server}"
}

# ---- bats' DEBUG trap -----------------------------------------------------
#
# bats runs a DEBUG trap before every command of a test, to know where a
# failure happened. It costs about 0.3 ms a command: a helper's polling loop
# would spend a hundred times what its own commands cost, and the whole kit's
# run most of its CPU time there. A failure only needs to point at a line of
# the test file (the helper call that failed), so:

# trace_test_file_only: from now on this test runs bats' trap only for the
# commands of its @test body, not for those of the helpers it calls (here or
# in the test file). A failure in a helper then points at the line of the
# body that called it. The default setup() calls this; a test file with its
# own setup() calls it first.
trace_test_file_only() {
  local trap_now
  trap_now=$(trap -p DEBUG)
  [[ -n $trap_now ]] || return 0
  eval "set -- ${trap_now#trap -- }"   # $1: the trap's command
  KIT_DEBUG_TRAP="trap -- 'if [[ \${FUNCNAME[0]} == \"\$BATS_TEST_NAME\" ]]; then $1; fi' DEBUG"
  eval "$KIT_DEBUG_TRAP"
}
setup() { trace_test_file_only; }

# untraced COMMAND...: run COMMAND with no DEBUG trap at all (a poll, a
# sample: code that cannot fail a test; the `fail` after it is where the test
# fails). COMMAND runs in a `||` list, so `set -e` does not stop it halfway.
untraced() {
  local rc=0
  if [[ -n ${KIT_UNTRACED:-} ]]; then "$@"; return; fi   # already off
  [[ -n ${KIT_DEBUG_TRAP:-} ]] || KIT_DEBUG_TRAP=$(trap -p DEBUG)
  KIT_UNTRACED=1; trap - DEBUG
  "$@" || rc=$?
  KIT_UNTRACED=; eval "$KIT_DEBUG_TRAP"
  return "$rc"
}

# wait_until MS COMMAND...: run COMMAND until it succeeds (0) or MS
# milliseconds pass (1): every 20 ms at first, then less often, up to every
# 50 ms (a long wait need not start hundreds of `ss` processes). The polling
# is the point: never sleep-then-assert.
wait_until() { untraced _wait_until "$@"; }
_wait_until() {
  local ms=$1 deadline pause=20; shift
  clock_ms; deadline=$(( NOW_MS + ms ))
  while true; do
    "$@" && return 0
    clock_ms; (( NOW_MS >= deadline )) && return 1
    nap "0.0$pause"
    (( pause = pause < 45 ? pause + 5 : 50 ))
  done
}

# start_server [OPTIONS...]: start the server on port 0 in the background.
# Sets SERVER_PID and PORT; its stdout and stderr go to $SERVER_OUT and $SERVER_LOG.
# Port 0 can hand out a port whose earlier server (another test of a busy
# suite) left sockets behind: TIME-WAIT lasts 60 s, on its side or its
# clients', and bind() only checks that nothing listens there. Every count
# of this test's sockets would count those too (seen: 268 old TIME-WAIT
# sockets in a test that expected none), so such a port is given back and
# another one taken. Not with --port: a test that names its port wants to
# see what is there.
start_server() {
  SERVER_OUT="$BATS_TEST_TMPDIR/server.out"
  SERVER_LOG="$BATS_TEST_TMPDIR/server.log"
  local bin try; bin=$(server_binary)
  [[ -x $bin ]] || fail "no server binary at $bin: run make first"
  for try in 1 2 3 4 5; do
    launch_server "$bin" "$SERVER_OUT" "$SERVER_LOG" "$@" || fail "$LAUNCH_ERROR"
    if [[ " $* " == *" --port "* ]] || port_is_fresh "$PORT"; then break; fi
    halt "$SERVER_PID"
    SERVER_PID=
  done
  start_timeline
}

# port_is_fresh PORT: no socket but our listener has PORT at either end.
port_is_fresh() { ! ss -Htan "( sport = :$1 or dport = :$1 )" | grep -qv '^LISTEN'; }

# ---- a picture of what a failed check saw (KIT_TIMELINE=1) -------------
#
# With KIT_TIMELINE=1 (set by `make check` and `make watch` in a lesson
# folder), start_server also starts tools/timeline on the server's port, and
# a failed check stops it and draws what it recorded: every connection's
# states over time, the server's fds and its log. The failure message names
# the SVG. Off in the maintainer's `tests/run all`, where every second of
# CPU counts; on for a student, who reads one failure at a time.
TIMELINE_DIR="$KIT/tests/out/timelines"
start_timeline() {
  TIMELINE_PID= TIMELINE_REC=
  [[ -n ${KIT_TIMELINE:-} && ${KIT_TIMELINE:-} != 0 && -x $KIT/tools/timeline ]] || return 0
  TIMELINE_REC="$BATS_TEST_TMPDIR/timeline.tl"
  local ns=()
  [[ -n ${NET:-} ]] && ns=("$KIT/tools/netpair" srv "$NET")   # lesson 06: the server's host
  "${ns[@]}" "$KIT/tools/timeline" record --port "$PORT" --pid "$SERVER_PID" --log "$SERVER_LOG" \
    --new-only --title "$LESSON: $BATS_TEST_DESCRIPTION" --out "$TIMELINE_REC" >/dev/null 2>&1 3>&- &
  TIMELINE_PID=$!
  wait_until 3000 test -s "$TIMELINE_REC" || true   # its header: the first sample is in
}

# stop_timeline: stop the recorder by its PID (the recording stays).
stop_timeline() {
  [[ -n ${TIMELINE_PID:-} ]] || return 0
  local pid=$TIMELINE_PID
  TIMELINE_PID=
  kill -TERM "$pid" 2>/dev/null
  wait_until 3000 process_gone "$pid" || kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

# timeline_picture: after a failure, draw the recording; prints a line for
# the failure message naming the SVG, or nothing when nothing was recorded.
timeline_picture() {
  [[ -n ${TIMELINE_REC:-} ]] || return 0
  stop_timeline
  [[ -s $TIMELINE_REC ]] || return 0
  mkdir -p "$TIMELINE_DIR"
  local svg="$TIMELINE_DIR/$LESSON-test$BATS_TEST_NUMBER.svg"
  "$KIT/tools/timeline" svg "$TIMELINE_REC" >"$svg" 2>/dev/null || return 0
  printf '\n  The timeline of what this test saw (each connection a lane, coloured by state): %s' "$svg"
}

# stop_server: SIGTERM the server by PID; it must exit 0 (the contract), which
# also catches sanitizer and valgrind reports, since they change the status.
stop_server() {
  stop_timeline
  [[ -n ${SERVER_PID:-} ]] || return 0
  local pid=$SERVER_PID
  SERVER_PID=
  halt "$pid" 10000 ||
    fail "the server (pid $pid) ignored SIGTERM for 10 s and was killed; the contract says SIGTERM exits 0"
  if (( HALT_STATUS != 0 )); then
    fail "the server exited with status $HALT_STATUS after SIGTERM (the contract says 0); its stderr ends with:
$(tail -n 20 "$SERVER_LOG")"
  fi
}

# start_client ARGS...: a tools/client in the background against $PORT.
# Its result lines go to $CLIENT_OUT; its PID is remembered for teardown.
CLIENT_PIDS=()
start_client() {
  CLIENT_OUT="$BATS_TEST_TMPDIR/client.out"
  : >"$CLIENT_OUT"   # now, not in the child: a poll must not count an earlier client's lines
  "$CLIENT" --port "$PORT" "$@" >"$CLIENT_OUT" 2>&1 3>&- &
  CLIENT_PID=$!
  CLIENT_PIDS+=("$CLIENT_PID")
}

# run_client ARGS...: a tools/client in the foreground; output in $CLIENT_OUT.
run_client() {
  CLIENT_OUT="$BATS_TEST_TMPDIR/client.out"
  "$CLIENT" --port "$PORT" "$@" >"$CLIENT_OUT" 2>&1 3>&-
}

# client_results RESULT: how many connections ended with result=RESULT
# (an extended regex: '(closed|reset)' counts both).
client_results() { count_matching " result=$1 " "$CLIENT_OUT"; echo "$MATCHES"; }

# kill_client: SIGKILL the background client (its kernel still closes its
# sockets, which is the point of the kill -9 tests).
kill_client() {
  kill -KILL "$CLIENT_PID" 2>/dev/null
  wait "$CLIENT_PID" 2>/dev/null || true
}

stop_clients() {
  local pid
  for pid in "${CLIENT_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true   # (gone already: fine)
    wait "$pid" 2>/dev/null || true         # (137, the SIGKILL: fine; safe under set -e)
  done
  CLIENT_PIDS=()
}

# Default teardown: stop clients first, then the server (and check its status).
teardown() {
  stop_clients
  stop_server
}

# ---- looking at the sockets -------------------------------------------

# server_sockets, client_sockets, server_count STATE, client_count STATE,
# fd_count and thread_count: in tools/kit.sh.
# server_keepalive_timers: true when ss -o shows a keepalive timer on the
# server side of $PORT (SO_KEEPALIVE is on; ss prints timer:(keepalive,...)).
server_keepalive_timers() { ss -Htno state established "( sport = :$PORT )" | grep -q 'timer:(keepalive'; }

# log_count REGEX: lines in the server's stderr log matching REGEX.
# log_matches REGEX: the same in MATCHES, for a poll (no $(...) subshell,
# which could not keep count_matching's cache).
log_count() { count_matching "$1" "$SERVER_LOG"; echo "$MATCHES"; }
log_matches() { count_matching "$1" "$SERVER_LOG"; }

# count_matching REGEX FILE: how many lines of FILE match the extended REGEX
# (grep -cE; 0 if FILE is missing), in MATCHES. A poll asks every 20-50 ms,
# and most polls of a wait find the file as it was: so each count is kept
# with the text it was taken from, and grep runs only when the text changed
# (a poll that starts no process costs a tenth as much).
declare -gA _MATCH_TEXT=() _MATCH_COUNT=()   # (-g: bats sources this file inside a function)
count_matching() {
  local key="$2 $1" text="" scratch="$BATS_TEST_TMPDIR/.count.$BASHPID"
  { IFS= read -r -d '' text <"$2"; } 2>/dev/null || true   # (status 1 at the end of the file)
  if [[ -z ${_MATCH_COUNT[$key]+set} || ${_MATCH_TEXT[$key]} != "$text" ]]; then
    # (the text is read before grep reads the file: if it grew in between,
    # the next call sees new text and counts again)
    grep -cE "$1" "$2" >"$scratch" 2>/dev/null || true
    MATCHES=; read -r MATCHES <"$scratch"
    _MATCH_COUNT[$key]=${MATCHES:-0} _MATCH_TEXT[$key]=$text
  fi
  MATCHES=${_MATCH_COUNT[$key]}
}

# state_label STATE: STATE as ss prints it, in LABEL (no $(...): the
# assertions below build their message before they poll).
state_label() { case $1 in established) LABEL=ESTAB ;; *) LABEL=${1^^} ;; esac; }

# ---- assertions that teach --------------------------------------------
#
# Each polls until the condition holds or WAIT_MS passes, then fails with
# what was seen, where, and what it means.

# _expect OP N DESCRIPTION MEANING COMMAND...: poll COMMAND's number.
_expect() {
  local op=$1 want=$2 description=$3 meaning=$4 seen
  shift 4
  # (the number through a scratch file, not $(...): one process fewer a poll)
  _compare() { "$@" >"$BATS_TEST_TMPDIR/.seen.$BASHPID"; read -r seen <"$BATS_TEST_TMPDIR/.seen.$BASHPID"; [ "${seen:-0}" "$op" "$want" ]; }
  wait_until "$WAIT_MS" _compare "$@" && return 0
  local expect
  case $op in
    -eq) expect="expected $want" ;; -ge) expect="expected at least $want" ;;
    -le) expect="expected at most $want" ;; -gt) expect="expected more than $want" ;;
    -lt) expect="expected fewer than $want" ;; *) expect="expected $op $want" ;;
  esac
  # EXPECT_MORE: a command whose output, taken now, says more (log_tail)
  fail "$seen $description ($expect): $meaning${EXPECT_MORE:+ ($($EXPECT_MORE))}$(timeline_picture)"
}

# expect_server_state STATE OP N MEANING
expect_server_state() {
  state_label "$1"
  _expect "$2" "$3" "sockets in $LABEL on the server side of port $PORT" "$4" server_count "$1"
}

# expect_client_state STATE OP N MEANING
expect_client_state() {
  state_label "$1"
  _expect "$2" "$3" "sockets in $LABEL on the client side of port $PORT" "$4" client_count "$1"
}

# expect_fds OP N MEANING
expect_fds() {
  _expect "$1" "$2" "open file descriptors in the server (pid $SERVER_PID)" "$3" fd_count
}

# expect_threads OP N MEANING
expect_threads() {
  _expect "$1" "$2" "threads in the server (pid $SERVER_PID)" "$3" thread_count
}

# expect_log REGEX OP N MEANING: count the server's log lines.
expect_log() {
  EXPECT_MORE=${KIT_LOG_TAIL:+log_tail} _expect "$2" "$3" "server log lines matching '$1'" "$4" log_count "$1"
}

# log_tail: what the server logged last, on one line, for a failure message
# (with KIT_LOG_TAIL=1, as tests/run all sets: a maintainer hunting a rare
# failure needs it; a student's message stays as the READMEs show it).
log_tail() { echo "the server's log ends: $(tail -n 4 "$SERVER_LOG" 2>/dev/null | paste -sd ';' -)"; }

# client_said: what the background client printed so far (a silent client
# prints nothing until it ends: any line here is a connect or thread failure).
client_said() { echo "the client printed: $(head -c 300 "$CLIENT_OUT" 2>/dev/null | tr "\n" ";")"; }

# expect_results RESULT OP N MEANING: count the clients' result lines.
# (What the client printed is read only for a failure message.)
expect_results() {
  EXPECT_MORE=client_output _expect "$2" "$3" "client connections with result=$1" "$4" client_results "$1"
}
client_output() { echo "client output: $(head -c 300 "$CLIENT_OUT" | tr '\n' ';')"; }

# ---- queues and close times (lessons 04 and 05) ------------------------

# Bytes in the kernel queues of the ESTABLISHED sockets on $PORT, summed.
# With one state filter ss drops the State column: Recv-Q is field 1, Send-Q
# field 2. Server Send-Q: bytes written but not yet taken by the client (its
# window is shut); client Recv-Q: bytes that arrived and were never read.
server_send_q() { server_sockets established | awk '{ n += $2 } END { print n + 0 }'; }
client_recv_q() { client_sockets established | awk '{ n += $1 } END { print n + 0 }'; }

# expect_server_send_q OP N MEANING
expect_server_send_q() {
  _expect "$1" "$2" "bytes in Send-Q on the server side of port $PORT" "$3" server_send_q
}

# expect_client_recv_q OP N MEANING
expect_client_recv_q() {
  _expect "$1" "$2" "bytes in Recv-Q on the client side of port $PORT" "$3" client_recv_q
}

# close_times REASON: the after= of each `close ... reason=REASON` log line, in ms.
close_times() { sed -n "s/^close .* reason=$1 after=\([0-9]*\)ms\$/\1/p" "$SERVER_LOG"; }

# expect_close_times REASON MIN MAX MEANING: every close with REASON came MIN
# to MAX ms after its accept. Call it once expect_log has seen those lines.
expect_close_times() {
  local t
  for t in $(close_times "$1"); do
    (( t >= $2 && t <= $3 )) ||
      fail "the server closed a connection with reason=$1 ${t} ms after accepting it (expected $2 to $3 ms): $4"
  done
}

# result_times RESULT: the after= of each client line with result=RESULT, in
# ms. RESULT is an extended regex: 'closed|reset' takes either.
result_times() {
  awk -v want="^($1)\$" '{
    r = ""; a = ""
    for (i = 1; i <= NF; i++) {
      if ($i ~ /^result=/) r = substr($i, 8)
      if ($i ~ /^after=/) a = substr($i, 7) + 0
    }
  } r ~ want { print a }' "$CLIENT_OUT"
}

# expect_result_times RESULT MIN MAX MEANING: every client connection that
# ended with RESULT did so MIN to MAX ms after it connected (the client's
# view of a server timeout). Call it once the client has finished.
expect_result_times() {
  local t
  for t in $(result_times "$1"); do
    (( t >= $2 && t <= $3 )) ||
      fail "a client connection ended with result=$1 ${t} ms after it connected (expected $2 to $3 ms): $4"
  done
}

# ---- facts that must hold for a while, and close-time summaries --------

# expect_final RESULT OP N MEANING: expect_results for a client that has
# already exited (run_client): its output is final, so there is nothing to
# poll for, and a failure shows at once instead of after WAIT_MS.
expect_final() { WAIT_MS=0 expect_results "$@"; }

# expect_stays MS MEANING COMMAND...: COMMAND holds at every check, every
# 50 ms, for MS ms. (A "stays" fact needs time to pass; each check is live.)
# A test file may define stays_context to add what it saw to the failure.
expect_stays() {
  local ms=$1 meaning=$2 context=""; shift 2
  untraced _holds_for "$ms" "$@" && return 0
  declare -F stays_context >/dev/null && context=" ($(stays_context))"
  fail "$meaning$context$(timeline_picture)"
}
# _holds_for MS COMMAND...: COMMAND succeeds at every check, every 50 ms, for MS ms.
_holds_for() {
  local until=$1; shift
  clock_ms; until=$(( NOW_MS + until ))
  while clock_ms; (( NOW_MS < until )); do
    "$@" || return 1
    nap 0.05
  done
}

# close_times_outside REASON LO HI: how many closes with REASON came outside
# LO..HI ms after their accept.
close_times_outside() {
  close_times "$1" | awk -v lo="$2" -v hi="$3" '$1 < lo || $1 > hi {n++} END {print n + 0}'
}

# close_times_summary REASON: min / median / max after= of the closes with REASON.
close_times_summary() {
  close_times "$1" | sort -n |
    awk '{a[NR] = $1} END {if (NR) printf "min %dms, median %dms, max %dms", a[1], a[int((NR + 1) / 2)], a[NR]; else printf "none"}'
}

# expect_next_close REASON MIN MAX MEANING: wait for the server's next
# `close` log line (the first this test has not looked at yet); it must say
# reason=REASON and after= between MIN and MAX ms. A close with another
# reason fails at once, not at a time limit. For tests whose clients end one
# after another, in a known order (CLOSES_SEEN counts the lines looked at).
CLOSES_SEEN=0
expect_next_close() {
  local want=$1 lo=$2 hi=$3 meaning=$4 line reason after
  _more_closes() { log_matches '^close '; (( MATCHES > CLOSES_SEEN )); }
  wait_until "$WAIT_MS" _more_closes ||
    fail "the server logged no close within $WAIT_MS ms (expected reason=$want after $lo to $hi ms): $meaning"
  CLOSES_SEEN=$(( CLOSES_SEEN + 1 ))
  line=$(grep '^close ' "$SERVER_LOG" | sed -n "${CLOSES_SEEN}p")
  reason=$(sed -n 's/.* reason=\([a-z-]*\) .*/\1/p' <<<"$line")
  after=$(sed -n 's/.* after=\([0-9]*\)ms$/\1/p' <<<"$line")
  if [[ $reason != "$want" ]] || (( after < lo || after > hi )); then
    fail "the server logged '$line' (expected reason=$want after $lo to $hi ms): $meaning"
  fi
}
