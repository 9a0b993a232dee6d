#!/usr/bin/env bats
# Lesson 08: a single-threaded poll() loop must wake up for its deadlines.
#
# Tagged `bug`: facts about the pristine starter (poll() waits forever, so
# silent clients outlive their deadline). Tagged `fix`: what a fixed server
# must do (the nearest deadline is poll()'s timeout).

load helpers
load loop-helpers

N=300          # silent clients: far more than a thread-per-connection lesson would like
IDLE=600       # --idle-timeout, ms

setup() { ulimit -n 4096 2>/dev/null || true; }

reaped() { (( $(log_count 'reason=timeout') > 0 )); }

# bats test_tags=bug
@test "bug: $N silent clients outlive --idle-timeout $IDLE: nothing wakes poll()" {
  # client connects, says nothing -> server ESTABLISHED; idle deadline passes, poll() still asleep
  start_server --idle-timeout $IDLE
  start_client --mode silent --count $N --hold 60000
  expect_server_state established -eq $N "all $N silent clients should be connected"
  expect_threads -eq 1 "an event loop serves every client from one thread"
  if wait_until $(( IDLE + 1500 )) reaped; then
    fail "the starter closed an idle client within $(( IDLE + 1500 )) ms: its poll() does wake for deadlines"
  fi
  expect_server_state established -eq $N \
    "the idle deadline passed long ago, but poll(..., -1) sleeps until a socket is ready, so expire_deadlines() never runs"
}

# bats test_tags=bug
@test "bug: one unrelated client wakes the loop, and only then are the overdue clients reaped" {
  # silent clients overdue; another client's line -> poll() returns -> expire_deadlines() closes them all at once
  start_server --idle-timeout 300
  start_client --mode silent --count 20 --hold 60000
  expect_server_state established -eq 20 "20 silent clients should be connected"
  if wait_until 1500 reaped; then
    fail "a client was reaped without another event; the starter should sleep through deadlines"
  fi
  run_client --mode close
  expect_log 'reason=timeout' -eq 20 \
    "the other client's line woke poll(), and the overdue deadlines were checked at last: timers that fire only when something else happens"
  [[ $(close_times_outside timeout 0 1500) -eq 20 ]] ||
    fail "expected every reap to be more than 1200 ms late; log: $(close_times_summary timeout)"
}

# bats test_tags=fix
@test "fix: $N silent clients are reaped near --idle-timeout $IDLE, by one thread" {
  # client silent -> idle deadline = poll() timeout -> close() -> FIN -> client EOF; no CLOSE-WAIT
  start_server --idle-timeout $IDLE
  local fds_before; fds_before=$(fd_count)
  start_client --mode silent --count $N --hold 20000
  expect_server_state established -ge 50 "the silent clients should be connecting"
  expect_threads -eq 1 "an event loop serves every client from one thread"
  expect_results closed -eq $N \
    "each silent client should see the server close its connection (EOF) once the idle deadline passes; poll() must wake up for the nearest deadline"
  expect_log 'reason=timeout' -eq $N "the server should log reason=timeout for each"
  local late; late=$(close_times_outside timeout $(( IDLE - 5 )) $(( IDLE + 1500 )))
  (( late == 0 )) || fail "$late clients were closed outside ${IDLE}..$(( IDLE + 1500 )) ms after accept ($(close_times_summary timeout)): the poll() timeout should be the time left until the nearest deadline"
  expect_server_state close-wait -eq 0 "the server closed them, so none can wait for close()"
  expect_fds -eq "$fds_before" "every reaped client's fd should be free again"
}

# bats test_tags=fix
@test "fix: chatty clients outlive the idle timeout; each line restarts their clock" {
  # client line every 150 ms -> echo -> idle deadline pushed back -> client closes (FIN) after ~1.2 s
  start_server --idle-timeout 400
  run_client --mode echo --count 20 --lines 9 --interval 150
  expect_results ok -eq 20 "every client sent a line every 150 ms for 1.2 s; an idle timeout of 400 ms must not cut them"
  expect_log 'reason=eof' -eq 20 "each chatty client should end by its own FIN"
}

# bats test_tags=fix
@test "fix: waiting for a far deadline costs no CPU (the poll() timeout is never 0)" {
  # 100 silent clients, idle deadline 20 s away -> poll() sleeps; the server's CPU time stays flat
  start_server --idle-timeout 20000
  start_client --mode silent --count 100 --hold 20000
  expect_server_state established -eq 100 "100 silent clients should be connected"
  local used; used=$(cpu_over 1000 "$SERVER_PID")
  (( used <= 100 )) || fail "the server used $used ms of CPU in 1 s while every deadline was 19 s away: a poll() timeout of 0 makes the loop spin"
}

# bats test_tags=fix
@test "fix: a client that never reads is closed at --write-timeout" {
  # server echo fills client Recv-Q and server Send-Q -> send() EAGAIN -> write deadline -> close()
  start_server --write-timeout 500
  run_client --mode no-read --hold 8000
  expect_log 'reason=write-timeout' -eq 1 \
    "once the kernel buffers are full nothing wakes poll(); only a timeout can end the write deadline"
  expect_results reset -eq 1 "the client, still sending, sees its connection reset"
  [[ $(close_times_outside write-timeout 495 8000) -eq 0 ]] ||
    fail "closed at $(close_times_summary write-timeout), expected 500 ms after the buffers filled (and never before 500 ms)"
}

# bats test_tags=fix
@test "fix: a trickling client is cut at --line-timeout; an oversized line gets ERR line too long" {
  # one byte every 100 ms -> line deadline -> close(); 200-byte line > --max-line 100 -> ERR, FIN, drain, close
  start_server --idle-timeout 2000 --line-timeout 500 --max-line 100
  run_client --mode slowloris --interval 100 --size 100
  expect_results '(closed|reset)' -eq 1 \
    "the server should close a line still unfinished after 500 ms (the client sees EOF, or RST when its last byte was still unread at close(): lesson 07)"
  expect_log 'reason=line-timeout' -eq 1 "the server should log reason=line-timeout"
  run_client --mode echo --lines 1 --size 200
  expect_results too-long -eq 1 "a 200-byte line with --max-line 100 should be answered 'ERR line too long'"
  expect_log 'reason=too-long' -eq 1 "the server should log reason=too-long"
  expect_server_state close-wait -eq 0 "every connection closed: none may stay in CLOSE-WAIT"
}

# bats test_tags=fix
@test "fix: a client that reads its replies slowly is not cut by --idle-timeout: it was the server that waited" {
  # replies pile up -> the loop stops reading until they are sent -> client reads for longer than the idle
  # timeout -> replies all out -> the idle clock starts again from then -> every byte echoed, no timeout
  [[ -x $LOADGEN ]] || fail "no $LOADGEN: run make first"
  start_server --idle-timeout 200 --write-timeout 5000
  expect_slow_reader_served
}
