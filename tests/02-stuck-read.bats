#!/usr/bin/env bats
# Lesson 02: a read() with no deadline waits forever on a silent client.
#
# Tagged `bug`: facts about the pristine starter (the stuck read is real).
# Tagged `fix`: what a fixed server must do (run against the student's
# server by `make check` in the lesson, and against the solution).

load helpers
load loop-helpers

N=10
IDLE=300      # --idle-timeout in ms, for every test
EARLY=5       # the server's log may show a timeout this much early (clocks tick in ms)
# ... and this much late, on a loaded 2-core machine. Not more: a timeout
# rounded up to whole seconds fires at 1000 ms for 300, and must fail.
LATE=600
# The client starts its clock when connect() returns, and on a loaded machine
# its thread may only run some ms after the server has started the timeout,
# so the client may see the close up to this much before --idle-timeout:
CLIENT_EARLY=150

# bats test_tags=bug
@test "bug: $N silent clients stay ESTABLISHED far past --idle-timeout $IDLE, one blocked thread each" {
  # client connects, sends nothing -> server read() blocks, no deadline -> ESTAB until the client gives up
  local hold=2000
  start_server --idle-timeout $IDLE
  local threads_before; threads_before=$(thread_count)
  start_client --mode silent --count $N --hold $hold
  expect_server_state established -eq $N "$N silent clients should be connected"
  expect_threads -eq $(( threads_before + N )) \
    "each silent client pins one server thread, asleep in read() ($threads_before threads before the clients)"
  expect_results held -eq $N \
    "the clients waited $hold ms, over six times the --idle-timeout, and the starter never hung up: its read() has no deadline"
  expect_log 'reason=timeout' -eq 0 "the starter has no timeout to log"
  expect_log 'reason=eof' -eq $N \
    "only when the clients gave up and closed did the server's read() return (EOF): without a deadline the server depends on its clients' good will"
  expect_threads -eq "$threads_before" "each thread ends once its client has closed"
}

# bats test_tags=fix
@test "fix: $N silent clients are closed --idle-timeout $IDLE ms after they connect; threads and fds come back" {
  # client silent -> SO_RCVTIMEO runs out -> read() EAGAIN -> close() -> FIN -> client reads EOF
  start_server --idle-timeout $IDLE
  local threads_before fds_before; threads_before=$(thread_count); fds_before=$(fd_count)
  run_client --mode silent --count $N --hold $(( IDLE + LATE + 200 ))
  expect_final closed -eq $N \
    "the server should hang up on each silent client after --idle-timeout $IDLE ms; 'held' means no read timeout fired within $(( IDLE + LATE + 200 )) ms: is SO_RCVTIMEO set on the socket before reading, in the right units (seconds and MICROseconds)?"
  expect_result_times closed $(( IDLE - CLIENT_EARLY )) $(( IDLE + LATE )) \
    "a silent client must be closed no sooner than --idle-timeout ($IDLE ms), and not much later. At 1000 ms or more, look at the units: SO_RCVTIMEO takes seconds AND microseconds, so $IDLE ms is {0 s, $(( IDLE * 1000 )) us}, not a whole second"
  expect_log '^close ' -eq $N "the server should log one close line per client"
  WAIT_MS=0 expect_log 'reason=timeout' -eq $N \
    "a read() that times out returns -1 with errno EAGAIN or EWOULDBLOCK (not ETIMEDOUT): log it as reason=timeout (reason=error means that case is not told apart yet; the log shows $(grep -c 'reason=error' "$SERVER_LOG") reason=error)"
  expect_close_times timeout $(( IDLE - EARLY )) $(( IDLE + LATE )) \
    "the server must hang up --idle-timeout ($IDLE ms) after it started reading, not sooner, and not much later"
  expect_server_state established -eq 0 "every silent connection should be gone"
  expect_server_state close-wait -eq 0 "nothing may wait in CLOSE-WAIT: every way out closes the socket"
  expect_threads -eq "$threads_before" "each timed-out connection's thread should end"
  expect_fds -eq "$fds_before" "each timed-out connection's file descriptor should be closed"
}

# bats test_tags=fix
@test "fix: clients that send every 50 ms are never cut by --idle-timeout 800, however long they stay" {
  # client line every 50 ms -> each read() returns well before SO_RCVTIMEO -> echo; client FIN -> EOF -> close()
  # A longer timeout here than elsewhere: the gap between two lines must stay
  # far below it even when a loaded machine runs the client's thread late.
  local idle=800
  start_server --idle-timeout $idle
  # 30 lines, 50 ms apart (29 gaps): each connection lives about 1.45 s, 1.8 times
  # the 800 ms timeout, so a deadline for the whole connection would cut it.
  run_client --mode echo --count $N --lines 30 --interval 50
  expect_final ok -eq $N \
    "a client that never stays quiet for $idle ms must never be cut: the timeout is for silence, per read, not for the whole connection"
  expect_log 'reason=eof' -eq $N "each chatty client closed by itself: the server should log reason=eof"
  expect_log 'reason=timeout' -eq 0 "no chatty client was ever silent for $idle ms"
}

# bats test_tags=fix
@test "fix: the log tells the three endings apart: eof (FIN), reset (RST), timeout (silence)" {
  # client FIN -> read() 0 -> eof; client RST -> read() ECONNRESET -> reset; silence -> EAGAIN -> timeout
  start_server --idle-timeout $IDLE
  run_client --mode close
  expect_final ok -eq 1 "a client that says one line and closes"
  expect_log 'reason=eof' -eq 1 "a client's FIN makes read() return 0: reason=eof"
  run_client --mode abort
  expect_final ok -eq 1 "a client that says one line, then aborts with RST"
  expect_log 'reason=reset' -eq 1 "a client's RST makes read() fail with ECONNRESET: reason=reset"
  run_client --mode silent --hold 2000
  expect_final closed -eq 1 "a silent client should be closed by the server after --idle-timeout $IDLE ms ('held': it never was)"
  expect_log 'reason=timeout' -eq 1 \
    "a read that timed out (EAGAIN or EWOULDBLOCK) is neither EOF nor an error: log reason=timeout"
  expect_log 'reason=error' -eq 0 "none of these three endings is an error"
}

# bats test_tags=fix
@test "fix: an --idle-timeout over one second works too (struct timeval: seconds and microseconds)" {
  # client silent -> SO_RCVTIMEO {1 s, 200000 us} runs out -> close()
  local idle=1200
  start_server --idle-timeout $idle
  run_client --mode silent --count 2 --hold 3000
  expect_final closed -eq 2 \
    "with --idle-timeout $idle nobody hung up on the silent clients within 3000 ms. If the $IDLE ms tests pass, look at the units: tv_usec must stay below 1000000, or setsockopt() fails with EDOM and there is no timeout at all. Use tv_sec = ms / 1000, tv_usec = (ms % 1000) * 1000"
  expect_result_times closed $(( idle - CLIENT_EARLY )) $(( idle + LATE )) \
    "the timeout must be $idle ms: milliseconds, not seconds or microseconds. Closed at once (the log says reason=error)? setsockopt() refused the value: tv_usec must stay below 1000000 (EDOM), so split ms into tv_sec = ms / 1000 and tv_usec = (ms % 1000) * 1000"
  expect_log 'reason=timeout' -eq 2 "both silent clients should be logged as reason=timeout"
  expect_close_times timeout $(( idle - EARLY )) $(( idle + LATE )) \
    "the server must hang up $idle ms after it started reading: milliseconds, not seconds or microseconds"
}

# bats test_tags=fix
@test "fix: waiting for silent clients costs no CPU: read() sleeps until data or the timeout" {
  # client silent -> server thread asleep in read() (SO_RCVTIMEO) -> woken once, by the timeout -> close()
  # The CPU is counted over the clients' whole life, from before they
  # connect to after the server closed them all; the threads are sampled
  # while the clients wait.
  local idle=1000
  start_server --idle-timeout $idle
  silent_clients_cost 5
  expect_final closed -eq 5 "five silent clients should be closed after --idle-timeout $idle ms"
  ! spun ||
    fail "while five clients sat silent for $idle ms, the server used $CPU_USED ms of CPU (at most 100) and some thread was runnable (state R) in $RUNNABLE of $SAMPLES samples (a spinning thread is in nearly all, and uses CPU whenever it gets one): it was spinning, not waiting. A read() with SO_RCVTIMEO sleeps in the kernel until data, EOF or the timeout; a non-blocking read retried in a loop until the clock says time is up burns a whole core per connection"
}
