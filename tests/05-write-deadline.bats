#!/usr/bin/env bats
# Lesson 05: a client that sends but never reads fills the buffers, and a
# server with no write deadline blocks in send() forever.
#
# Tagged `bug`: facts about the pristine starter (the bug is real).
# Tagged `fix`: what a fixed server must do (run against the student's
# server by `make check` in the lesson, and against the solution).

load helpers

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
  expect_server_state established -eq 0 \
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
  start_write_server --max-line 8388608
  run_client --mode close --count 2 --size 4194304
  expect_results ok -eq 2 \
    "a line bigger than the send buffer goes out in pieces: after a partial send(), send the rest, and wait for POLLOUT only when send() says EAGAIN"
  expect_log 'reason=eof' -eq 2 "both clients got their whole line and closed: reason=eof"
}
