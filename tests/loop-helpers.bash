# loop-helpers.bash - extra helpers for the event-loop lessons (08, 09),
# loaded after helpers.bash.

# cpu_ms PID and proc_state PID: in tools/kit.sh.

# runnable_thread_samples N: in N samples 50 ms apart, how often some thread
# of the server was in state R (running, or ready and waiting for a CPU). A
# thread asleep in read() or poll() is S; one that spins is R in nearly every
# sample, even when other work crowds the CPUs and its CPU time grows slowly.
runnable_thread_samples() { untraced _runnable_thread_samples "$@"; }
_runnable_thread_samples() {
  local i n=0 task stat
  for (( i = 0; i < $1; i++ )); do
    for task in /proc/"$SERVER_PID"/task/*/stat; do
      { read -r stat <"$task"; } 2>/dev/null || continue
      stat=${stat##*) }
      [[ $stat == R* ]] && { n=$(( n + 1 )); break; }
    done
    nap 0.05
  done
  echo "$n"
}

# silent_clients_cost N: N silent tools/clients against the server; while
# they wait, RUNNABLE of SAMPLES (8, 50 ms apart) saw some server thread in
# state R; over their whole life, from before they connect until they are
# gone, the server used CPU_USED ms of CPU. Both, because on a crowded
# machine a spinning thread gets little CPU time, yet is R in every sample;
# a sleeping thread woken now and then (a signal, an injected EINTR) can be
# R in a few samples while it waits for a CPU, but not in most.
# Start the server with an --idle-timeout of 900 ms or more: the samples
# must fall while the clients wait.
silent_clients_cost() {
  local before pid
  before=$(cpu_ms "$SERVER_PID")
  start_client --mode silent --count "$1" --hold 5000
  pid=$CLIENT_PID
  expect_server_state established -eq "$1" "the $1 silent clients should connect"
  SAMPLES=8
  RUNNABLE=$(runnable_thread_samples "$SAMPLES")
  wait_until 10000 process_gone "$pid" || fail "the silent clients were still connected after 10 s"
  wait "$pid" 2>/dev/null || true
  CPU_USED=$(( $(cpu_ms "$SERVER_PID") - before ))
}

# spun: after silent_clients_cost, true when the server spun instead of
# sleeping: over 100 ms of CPU, or some thread runnable in half the samples or
# more while it used CPU (20 ms or more). A thread that sleeps can still be R
# in many samples on a crowded machine, waiting its turn for a CPU once woken
# or just started (seen: 4 of 8 samples, 0 ms of CPU, beside a busy loop and
# a make grade); a spinning one uses CPU whenever it gets one.
spun() { (( CPU_USED > 100 || (RUNNABLE * 2 >= SAMPLES && CPU_USED >= 20) )); }

# cpu_over MS PID: CPU ms the process used during the next MS ms of wall time.
# (Measuring over a window is the point: it is not an assertion after a sleep.)
cpu_over() { untraced _cpu_over "$@"; }
_cpu_over() {
  local before after
  before=$(cpu_ms "$2")
  nap "$(( $1 / 1000 )).$(printf '%03d' $(( $1 % 1000 )))"
  after=$(cpu_ms "$2")
  echo $(( after - before ))
}

# loop_cost MS PID: "CPU WAKEUPS RUNNING" over the next MS ms of wall time:
# the CPU ms the process used; how often it went to sleep and was woken
# again (voluntary context switches, /proc/PID/status; a single-threaded
# server's main thread is the whole server); and in how many of the MS/50
# samples, 50 ms apart, it was in state R (running or waiting for a CPU).
# A loop that sleeps until its next deadline wakes a handful of times and is
# seldom R; one that polls every millisecond wakes hundreds of times on
# little CPU; one that spins (a timeout of 0, a level-triggered event it
# never clears) never sleeps: R in nearly every sample, even when other
# processes crowd the CPUs and its CPU time stays low.
loop_cost() { untraced _loop_cost "$@"; }
_loop_cost() {
  local cpu0 woke0 i running=0
  cpu0=$(cpu_ms "$2")
  woke0=$(proc_status_field voluntary_ctxt_switches "$2")
  for (( i = 0; i < $1 / 50; i++ )); do
    nap 0.05
    [[ $(proc_state "$2") == R ]] && running=$(( running + 1 ))
  done
  echo "$(( $(cpu_ms "$2") - cpu0 ))" \
    "$(( $(proc_status_field voluntary_ctxt_switches "$2") - woke0 ))" "$running"
}

# send_q_still: bytes wait in the server's Send-Q on $PORT and did not move in
# 200 ms (a client that does not read has filled both kernels' buffers).
# Counts CLOSE-WAIT too: a client that has sent everything has also sent FIN.
send_q_still() {
  local before; before=$(_send_q_open)
  nap 0.1
  (( before > 0 && $(_send_q_open) == before )) || return 1
  nap 0.1
  (( $(_send_q_open) == before ))
}
_send_q_open() {
  { server_sockets established; server_sockets close-wait; } | awk '{ n += $2 } END { print n + 0 }'
}

# server_held_bytes: bytes an echo server on $PORT has read from its clients
# and not yet written back: what it holds in its own memory (its buffers),
# from the kernel's counters (ss -ti), whatever the allocator or a sanitizer
# does with the heap. Read = bytes_received - Recv-Q; written = bytes_acked
# + Send-Q (acknowledged, plus still in the kernel). ESTABLISHED and
# CLOSE-WAIT (each listed alone: one state, no State column).
# The smaller of two samples in a row: the kernel reads a socket's Recv-Q
# and its bytes_received a moment apart (net/ipv4/tcp_diag.c: the queues,
# then tcp_get_info()), and a fast sender's bytes in between count as held
# (seen once, at 12 sections at once: 1.1 MB, from lesson 10's solution,
# whose buffers stop near 72 KB: HIGH_WATER 64 KB and a line under 8 KB).
# A server that really holds more holds it in both samples.
server_held_bytes() {
  local a b
  a=$(_held_once); b=$(_held_once)
  echo $(( a < b ? a : b ))
}
_held_once() {
  { ss -Htni state established "( sport = :$PORT )"; ss -Htni state close-wait "( sport = :$PORT )"; } | awk '
    /^[0-9]/ { recvq += $1; sendq += $2; next }
    { for (i = 1; i <= NF; i++) {
        if ($i ~ /^bytes_received:/) { split($i, a, ":"); got += a[2] }
        if ($i ~ /^bytes_acked:/) { split($i, a, ":"); acked += a[2] } } }
    END { print got - recvq - acked - sendq + 0 }'
}

# Many connections, or one that pipelines megabytes, come from tools/loadgen
# (one process, epoll).
LOADGEN="$KIT/tools/loadgen"

# loadgen ARGS...: tools/loadgen against $PORT in the foreground; its summary
# line goes to $LOADGEN_OUT.
loadgen() {
  LOADGEN_OUT="$BATS_TEST_TMPDIR/loadgen.out"
  "$LOADGEN" --port "$PORT" "$@" >"$LOADGEN_OUT" 2>&1 3>&-
}
# start_loadgen ARGS...: the same in the background (stopped in teardown).
start_loadgen() {
  LOADGEN_OUT="$BATS_TEST_TMPDIR/loadgen.out"
  : >"$LOADGEN_OUT"   # now, not in the child (see start_client)
  "$LOADGEN" --port "$PORT" "$@" >"$LOADGEN_OUT" 2>&1 3>&- &
  CLIENT_PIDS+=("$!")
  LOADGEN_PID=$!
}
# summary KEY: a number from loadgen's summary line (mode=... KEY=N ...).
summary() { sed -n "s/^mode=.* $1=\([0-9]*\).*/\1/p" "$LOADGEN_OUT"; }

# pipeline ARGS...: 4 MiB of numbered 100-byte lines sent as fast as the
# server takes them, read back (after a 300 ms pause, so the buffers surely
# fill) 4 KiB per ms through a 16 KiB receive window.
pipeline() {
  loadgen --mode pipeline --total $(( 4 << 20 )) --size 100 --rcvbuf 16384 \
    --read-start 300 --read-chunk 4096 --read-delay 1 --duration 15000 "$@"
}

# expect_slow_reader_served: a client that pipelines lines and reads the
# replies slowly, for longer than --idle-timeout, gets every byte back and is
# never closed for being idle (run against a server with --idle-timeout 500:
# at 200, a client kept off the CPU for 200 ms by a busy machine really was
# idle, and was cut in one loaded run in thirty).
expect_slow_reader_served() {
  pipeline
  if [[ $(summary ok) -ne 1 ]]; then
    grep -q 'reason=timeout' "$SERVER_LOG" &&
      fail "the server closed a client that was reading its replies, only slowly, with reason=timeout ($(grep '^close' "$SERVER_LOG")). While its replies wait, the server reads nothing, so the client's idle clock must not run: restart it when the output is all sent"
    fail "the client read every reply, only slowly, yet did not get all its bytes back: $(cat "$LOADGEN_OUT")"
  fi
  expect_log 'reason=timeout' -eq 0 "no idle timeout: the client was never the one keeping us waiting"
}

# expect_epoll_asleep COST WHILE: COST is loop_cost's "CPU WAKEUPS RUNNING" over
# 500 ms; fail unless the loop slept in epoll_wait() through it.
expect_epoll_asleep() {
  local cpu woke running
  read -r cpu woke running <<<"$1"
  (( cpu <= 60 && woke <= 30 && running <= 2 )) ||
    fail "the server used $cpu ms of CPU, woke $woke times and was running in $running of 10 samples in 500 ms $2"
}

# fail_stopped MESSAGE: SIGKILL the server, then fail. For a server caught
# spinning where it cannot see SIGTERM (inside accept_clients()), so the
# teardown does not wait 10 s for it to exit.
fail_stopped() {
  kill -KILL "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  fail "$1"
}
