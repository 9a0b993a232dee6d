#!/usr/bin/env bats
# Lesson 03: a read deadline of "now" cuts every client at once.
#
# Tagged `bug`: facts about the pristine starter (the deadline is now).
# Tagged `fix`: what a fixed server must do (run against the student's
# server by `make check` in the lesson, and against the solution).
#
# Not tested here, because a test cannot provoke it from outside: a wait
# interrupted by a signal (EINTR) must go on for the time left, not the full
# timeout again, and deadlines must come from CLOCK_MONOTONIC, not the wall
# clock. README.md and the comments in server.c explain both. (A deadline
# from the wall clock that read_by() compares with the monotonic one is
# caught: it lands decades away, and silent clients are never closed.)

load helpers
load loop-helpers

N=5
IDLE=300      # --idle-timeout in ms, unless a test says otherwise
EARLY=5       # the server's log may show a timeout this much early (clocks tick in ms)
# ... and this much late, on a loaded 2-core machine. Not more: a wait
# rounded up to whole seconds ends at 1000 ms for 300, and must fail.
LATE=600
# The client starts its clock when connect() returns, and on a loaded machine
# its thread may only run some ms after the server has started the timeout,
# so the client may see the close up to this much before --idle-timeout:
CLIENT_EARLY=150

# cut_count: client connections the server ended, by FIN (closed) or by RST
# (reset: it closed with the client's line still unread; see lesson 07).
cut_count() { result_times 'closed|reset' | wc -l; }

# bats test_tags=bug
@test "bug: healthy chatty clients are cut within milliseconds, although --idle-timeout is 2000" {
  # client sends a line -> read_by() finds its deadline (= now) already past -> EAGAIN -> close()
  local idle=2000
  start_server --idle-timeout $idle
  run_client --mode echo --count $N --lines 5 --interval 50
  WAIT_MS=0 _expect -eq $N "client connections ended by the server (result=closed or reset)" \
    "each client wanted to send 5 lines, 50 ms apart; the starter hung up on it at once (client output: $(head -c 300 "$CLIENT_OUT" | tr '\n' ';'))" \
    cut_count
  expect_result_times 'closed|reset' 0 $(( idle / 2 )) \
    "the starter cuts a client long before any idle time could pass: its deadline is now, already over when read_by() checks it"
  expect_log 'reason=timeout' -eq $N \
    "the server calls it a timeout: read_by() failed with EAGAIN (its deadline passed), like Go's Read after SetReadDeadline(time.Now())"
  expect_close_times timeout 0 $(( idle / 2 )) \
    "the server logged the timeout long before --idle-timeout $idle ms had passed"
}

# bats test_tags=fix
@test "fix: clients that send every 50 ms are never cut by --idle-timeout 800, however long they stay" {
  # client line every 50 ms -> each read_by() has a fresh deadline now + 800 ms -> echo; client FIN -> EOF -> close()
  # A longer timeout here than elsewhere: the gap between two lines must stay
  # far below it even when a loaded machine runs the client's thread late.
  local idle=800
  start_server --idle-timeout $idle
  # 30 lines, 50 ms apart (29 gaps): each connection lives about 1.45 s, 1.8 times
  # the 800 ms timeout, so a deadline for the whole connection would cut it.
  run_client --mode echo --count $N --lines 30 --interval 50
  expect_final ok -eq $N \
    "a healthy client was cut: a deadline of now has passed by the time read_by() looks at it (or the deadline was set once, not before each read). Set it to now + --idle-timeout (deadline_in()), fresh before each read"
  expect_log 'reason=timeout' -eq 0 "no chatty client was ever silent for $idle ms"
  expect_log 'reason=eof' -eq $N "each chatty client closed by itself: the server should log reason=eof"
}

# bats test_tags=fix
@test "fix: $N silent clients are closed --idle-timeout $IDLE ms after they connect, not sooner" {
  # client silent -> poll() waits deadline - now -> EAGAIN -> close() -> FIN -> client reads EOF
  start_server --idle-timeout $IDLE
  local threads_before fds_before; threads_before=$(thread_count); fds_before=$(fd_count)
  run_client --mode silent --count $N --hold $(( IDLE + LATE + 200 ))
  expect_final closed -eq $N \
    "the server should hang up on each silent client about $IDLE ms after it connected ('held': nobody did within $(( IDLE + LATE + 200 )) ms, so the deadline is far off: is it on the clock read_by() compares it with, now_ms() (CLOCK_MONOTONIC), and in milliseconds?)"
  expect_result_times closed $(( IDLE - CLIENT_EARLY )) $(( IDLE + LATE )) \
    "a silent client must be closed at its deadline, now + $IDLE ms, not at once and not much later. At once: the deadline is a moment, now_ms() + ms, not the duration ms alone. At 1000 ms or more: something waits in whole seconds (poll() takes milliseconds)"
  expect_log '^close ' -eq $N "the server should log one close line per client"
  WAIT_MS=0 expect_log 'reason=timeout' -eq $N "each silent client should be logged as reason=timeout"
  expect_close_times timeout $(( IDLE - EARLY )) $(( IDLE + LATE )) \
    "the server must hang up at the deadline, now + $IDLE ms from the start of the read, not sooner"
  expect_server_state close-wait -eq 0 "nothing may wait in CLOSE-WAIT: every way out closes the socket"
  expect_threads -eq "$threads_before" "each timed-out connection's thread should end"
  expect_fds -eq "$fds_before" "each timed-out connection's file descriptor should be closed"
}

# bats test_tags=fix
@test "fix: --idle-timeout 0 means no deadline at all, not a deadline that has already passed" {
  # --idle-timeout 0 -> deadline 0 -> poll() waits with no timeout -> the silent client stays until it leaves
  start_server --idle-timeout 0
  run_client --mode silent --hold 800
  expect_final held -eq 1 \
    "with --idle-timeout 0 the server hung up on a silent client: 0 must mean 'no deadline' (as for SO_RCVTIMEO and Go's zero time.Time), so deadline_in(0) must give 0, not now"
  expect_log 'reason=eof' -eq 1 "the client gave up and closed: the server should read EOF"
  expect_log 'reason=timeout' -eq 0 "there was no deadline, so there can be no timeout"
}

# bats test_tags=fix
@test "fix: an --idle-timeout over one second is honoured in milliseconds" {
  # client silent -> poll() for the 1200 ms left -> EAGAIN -> close()
  local idle=1200
  start_server --idle-timeout $idle
  run_client --mode silent --count 2 --hold 3000
  expect_final closed -eq 2 \
    "with --idle-timeout $idle nobody hung up on the silent clients within 3000 ms: check the units (poll() takes ms; a struct timeval takes seconds and MICROseconds, tv_usec below 1000000)"
  expect_result_times closed $(( idle - CLIENT_EARLY )) $(( idle + LATE )) \
    "the deadline must be $idle ms after the last read began"
  expect_log 'reason=timeout' -eq 2 "both silent clients should be logged as reason=timeout"
  expect_close_times timeout $(( idle - EARLY )) $(( idle + LATE )) \
    "the server must hang up $idle ms after the read began: milliseconds, not seconds or microseconds"
}

# bats test_tags=fix
@test "fix: waiting for a deadline under a second away costs no CPU: poll() sleeps for the time left" {
  # client silent -> read_by() poll()s for deadline - now, in ms -> asleep until the deadline -> close()
  # The CPU is counted over the clients' whole life, from before they
  # connect to after the server closed them all; the threads are sampled
  # while the clients wait. 900 ms: under a second, where a time left in
  # whole seconds is 0.
  local idle=900
  start_server --idle-timeout $idle
  silent_clients_cost 5
  expect_final closed -eq 5 "five silent clients should be closed at their deadline, $idle ms after they connected"
  ! spun ||
    fail "while five clients sat silent, each with a deadline $idle ms away, the server used $CPU_USED ms of CPU (at most 100) and some thread was runnable (state R) in $RUNNABLE of $SAMPLES samples (a spinning thread is in nearly all, and uses CPU whenever it gets one): it was spinning, not waiting. poll() takes MILLIseconds: a time left of $idle ms divided down to 0 seconds makes poll() return at once, again and again, until the deadline"
}
