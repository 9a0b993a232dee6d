#!/usr/bin/env bats
# Lesson 05: a client that sends but never reads fills the buffers, and a
# server with no write deadline blocks in send() forever.
#
# Tagged `bug`: facts about the pristine starter (the bug is real).
# Tagged `fix`: what a fixed server must do (run against the student's
# server by `make check` in the lesson, and against the solution).

load helpers
load loop-helpers   # cpu_ms: the server's CPU time

IDLE=500    # --idle-timeout: the reads have a deadline (lesson 02-04)...
WRITE=500   # --write-timeout: ...and now the writes get one
N=3         # clients that never read, at once

start_write_server() {
  start_server --idle-timeout $IDLE --line-timeout 2000 --write-timeout $WRITE "$@"
}

# Clients that send 1000-byte lines as fast as the server takes them and
# never read a byte of the echoes.
start_non_readers() { # HOLD_MS
  start_client --mode no-read --count $N --size 1000 --hold "$1"
}

# stuck_writers_stay: all N connections still ESTABLISHED, echoes still queued.
stuck_writers_stay() {
  (( $(server_count established) == N && $(server_send_q) > 0 && $(client_recv_q) > 0 ))
}

# What expect_stays adds to a failure: the queues as ss sees them now.
stays_context() {
  echo "server ESTAB $(server_count established), server Send-Q $(server_send_q) bytes, client Recv-Q $(client_recv_q) bytes"
}

# bats test_tags=bug
@test "bug: a client that never reads leaves server threads blocked in send(): Send-Q stays full" {
  # client sends, never reads -> client Recv-Q full -> window 0 -> server Send-Q full -> send() blocks
  start_write_server
  local threads_before; threads_before=$(thread_count)
  start_non_readers 6000
  expect_client_recv_q -gt 0 \
    "the echoes should pile up unread in the clients' receive buffers"
  expect_server_send_q -gt 0 \
    "once the clients' windows are shut, the echoes should wait in the server's send buffers"
  expect_threads -eq $(( threads_before + N )) "each client holds one server thread"
  expect_stays $(( 3 * WRITE )) \
    "for 3 write timeouts the $N connections should stay ESTABLISHED with bytes queued on both sides: the starter ignores --write-timeout $WRITE" \
    stuck_writers_stay
  expect_log 'reason=' -eq 0 \
    "the starter closed nothing: its threads are asleep in send(), where no read deadline reaches"
}

# bats test_tags=fix
@test "fix: a client that never reads is closed at the write timeout" {
  # server Send-Q full -> poll(POLLOUT) until the write deadline -> close() (RST: unread input) -> gone
  start_write_server
  local threads_before; threads_before=$(thread_count)
  start_non_readers 10000
  expect_server_send_q -gt 0 \
    "the clients never read, so the echoes should first fill the server's send buffers"
  # Certain by then: every close must come by WRITE + 2000 ms (below).
  WAIT_MS=$(( WRITE + 2500 )) expect_server_state established -eq 0 \
    "the server's threads are stuck in send() with full send buffers, because these clients never read. A blocking send() waits as long as the client likes: send with MSG_DONTWAIT, wait for POLLOUT only until a deadline --write-timeout $WRITE ms away, then close"
  expect_log 'reason=write-timeout' -eq $N \
    "each connection should be logged with reason=write-timeout (when the write deadline passes, send() or poll() has not failed: your code says why)"
  expect_close_times write-timeout $(( WRITE - 5 )) $(( WRITE + 2000 )) \
    "the write deadline is $WRITE ms from the start of the write that got stuck"
  expect_results reset -eq $N \
    "the server closed with the clients' unread lines still in its receive buffer, so its kernel sent RST: each client's next send() fails (lesson 07 is about closing more gently)"
  expect_threads -eq "$threads_before" "the stuck threads should end when their connections close"
}

# bats test_tags=fix
@test "fix: clients that read are not cut by the write deadline" {
  # line -> echo (Send-Q drains as the client reads) -> ... -> client FIN -> close()
  start_write_server
  run_client --mode echo --count 10 --lines 5 --interval 20
  expect_results ok -eq 10 "clients that read their echoes must be served as before"
  run_client --mode half-close --count 5 --lines 2000
  expect_results ok -eq 5 "2000 lines sent at once must all come back, in order"
  expect_log 'reason=eof' -eq 15 "every client closed after its echoes: reason=eof"
  expect_log 'reason=write-timeout' -eq 0 "a client that reads never hits the write deadline"
}

# bats test_tags=fix
@test "fix: a 4 MB line comes back whole: partial sends are finished, not dropped" {
  # client sends 4 MB line -> server echoes it in many partial send()s as the client reads -> FIN
  # deadlines far away: this test is about pieces, not time (a sanitized
  # server beside a busy machine takes longer than 500 ms over 4 MB)
  start_server --idle-timeout $IDLE --line-timeout 10000 --write-timeout 10000 --max-line 8388608
  run_client --mode close --count 2 --size 4194304
  expect_results ok -eq 2 \
    "a line bigger than the send buffer goes out in pieces: after a partial send(), send the rest, and wait for POLLOUT only when send() says EAGAIN"
  expect_log 'reason=eof' -eq 2 "both clients got their whole line and closed: reason=eof"
}

# ---- the deadline is per reply, whole, and costs nothing while it waits ----

BIG=16777216   # --max-line for the tests below that send lines of megabytes

# bats test_tags=fix
@test "fix: the write deadline covers the whole reply: a slow but steady reader of a 24 MB echo is closed at the write timeout" {
  # client sends 24 MB line, reads 256 kB per 20 ms -> every send() progresses, the echo takes ~2 s -> write deadline (1000 ms) -> close()
  [[ ${SERVER_WRAPPER:-} != *valgrind* ]] ||
    skip "under valgrind 24 MB take longer to arrive than --line-timeout; this times the server, so run it without VALGRIND"
  start_server --idle-timeout $IDLE --line-timeout 2000 --write-timeout 1000 --max-line 33554432
  start_client --mode slow-read --size 25165824 --rcvbuf 262144 --chunk 262144 --interval 20 --hold 8000
  expect_next_close write-timeout 995 3000 \
    "the client reads its 24 MB echo slowly but steadily (256 kB every 20 ms, about 2 s in all), so every send() makes some progress, but the reply is not taken within --write-timeout 1000 ms. The deadline is for the whole reply: set it once when the echo starts and never move it. SO_SNDTIMEO, or a timeout restarted after each partial send, limits only the wait for the next bit of room, and a slow reader never lets it fire (the slow read attack). A blocking send() of the rest, once poll() says there is some room, has no deadline at all"
}

# bats test_tags=fix
@test "fix: the write deadline is per reply: a client that takes each big echo in time is served for longer than --write-timeout" {
  # line (6 MB), client waits 150 ms (server Send-Q fills, EAGAIN), reads the echo, 100 ms, line, ... (> WRITE ms in all) -> FIN -> close()
  # (150 ms, not less: a server slowed by sanitizers and load must have met a full send buffer by then,
  # or it sends only as fast as the client reads, never waits, and a wrong deadline is never looked at)
  start_write_server --max-line $BIG
  run_client --mode echo --size 6000000 --lines 5 --interval 100 --delay 150 --rcvbuf 65536
  expect_final ok -eq 1 \
    "the client sends five 6 MB lines, waits 150 ms before reading each echo (so the server's send buffer fills and send() says EAGAIN), then takes it whole, each well within --write-timeout $WRITE ms; but the connection lasts longer than that. A write deadline taken once per connection cuts it. Take deadline_in(--write-timeout) for each reply"
  expect_log 'reason=eof' -eq 1 "the client closed after its last echo: reason=eof"
}

# bats test_tags=fix
@test "fix: --write-timeout 0 means no write deadline: an 8 MB echo that must wait for room comes back whole" {
  # client sends 8 MB line, waits 150 ms, reads through a 64 kB window -> send() says EAGAIN, poll(POLLOUT) with no deadline -> all sent -> FIN
  # (the 150 ms make sure the server meets a full send buffer even when it is slower than the client reads)
  start_server --idle-timeout $IDLE --line-timeout 10000 --write-timeout 0 --max-line $BIG
  run_client --mode close --size 8388608 --rcvbuf 65536 --delay 150
  expect_final ok -eq 1 \
    "with --write-timeout 0 there is no write deadline: the echo waits for room (EAGAIN, then POLLOUT) as long as it takes. A deadline of now + 0 ms cuts every reply that does not fit the send buffer at once; 0 means none (deadline_in() returns 0 for it; lesson 03's trap)"
}

# bats test_tags=fix
@test "fix: a thread waiting for a client that does not read sleeps in poll(): no CPU until the write deadline" {
  # server Send-Q full -> send() EAGAIN -> poll(POLLOUT, time left) sleeps -> write deadline -> close()
  [[ ${SERVER_WRAPPER:-} != *valgrind* ]] ||
    skip "valgrind's own CPU hides whether the server sleeps; run it without VALGRIND"
  start_server --idle-timeout $IDLE --line-timeout 2000 --write-timeout 1500
  start_non_readers 5000
  expect_server_send_q -gt 0 "the clients never read, so the echoes should fill the server's send buffers"
  local cpu0 t0 cpu runnable
  cpu0=$(cpu_ms "$SERVER_PID") t0=$(now_ms)
  runnable=$(runnable_thread_samples 12)
  cpu=$(( $(cpu_ms "$SERVER_PID") - cpu0 ))
  (( cpu < 100 && runnable <= 3 )) ||
    fail "in $(( $(now_ms) - t0 )) ms while its $N threads only waited for room in full send buffers, the server used ${cpu} ms of CPU (expected under 100) and some thread was runnable (state R) in $runnable of 12 samples (expected at most 3): they spin. When send() says EAGAIN, sleep in poll(POLLOUT) for the time left before the deadline; do not retry send() in a loop, or poll with a timeout of 0"
  expect_log 'reason=write-timeout' -eq $N "each connection should still end at the write deadline, with reason=write-timeout"
}
