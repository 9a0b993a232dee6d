#!/usr/bin/env bats
# Lesson 01: a handler that returns without close() leaks CLOSE-WAIT sockets.
#
# Tagged `bug`: facts about the pristine starter (the leak is real).
# Tagged `fix`: what a fixed server must do (run against the student's
# server by `make check` in the lesson, and against the solution).

load helpers

N=20

# bats test_tags=bug
@test "bug: $N clients close -> $N server sockets stuck in CLOSE-WAIT, $N fds leaked" {
  # client FIN -> server ACK -> CLOSE-WAIT, and no close() ever follows
  start_server
  local fds_before; fds_before=$(fd_count)
  run_client --mode close --count $N
  expect_results ok -eq $N "every client should get its echo, then close"
  expect_log 'reason=eof' -eq $N "the server should see EOF from each client"
  expect_server_state close-wait -eq $N \
    "the starter got each client's FIN but never called close(): this is the leak"
  expect_client_state fin-wait-2 -ge $N \
    "each client sent FIN, got its ACK, and waits for a FIN the server never sends"
  expect_fds -eq $(( fds_before + N )) \
    "each leaked socket holds a file descriptor ($fds_before before the clients)"
}

# bats test_tags=bug
@test "bug: kill -9 of a client still sends FIN; the starter leaks that socket too" {
  # client process killed -> its kernel closes the socket -> FIN -> server CLOSE-WAIT
  start_server
  start_client --mode silent --count 5 --hold 60000
  expect_server_state established -eq 5 "five silent clients should be connected"
  kill_client
  expect_server_state close-wait -eq 5 \
    "the killed client's kernel sent FIN for each socket, so kill -9 alone does not leave a connection open; the starter still never closes"
}

# bats test_tags=fix
@test "fix: $N clients close -> 0 CLOSE-WAIT and fds back to baseline" {
  # client FIN -> server CLOSE-WAIT -> close() -> LAST-ACK -> client ACK -> gone
  start_server
  local fds_before; fds_before=$(fd_count)
  run_client --mode close --count $N
  expect_results ok -eq $N "every client should get its echo, then close"
  expect_log 'reason=eof' -eq $N "the server should log one 'close ... reason=eof' per client"
  expect_server_state close-wait -eq 0 \
    "the server got these clients' FIN but never called close(): every exit path of the handler must close the socket"
  expect_fds -eq "$fds_before" \
    "the server keeps a file descriptor for each finished client; close() gives it back"
  expect_client_state fin-wait-2 -eq 0 \
    "the clients sent FIN and are still waiting for the server's FIN, which only close() sends"
}

# bats test_tags=fix
@test "fix: clients killed with SIGKILL -> their sockets are closed too" {
  # client killed -> its kernel sends FIN -> server reads EOF -> close() -> gone
  start_server
  local fds_before; fds_before=$(fd_count)
  start_client --mode silent --count 5 --hold 60000
  expect_server_state established -eq 5 "five silent clients should be connected"
  expect_fds -eq $(( fds_before + 5 )) "one fd per connected client"
  kill_client
  expect_log 'reason=eof' -eq 5 "the killed client's kernel sent FIN: the server should read EOF on each socket"
  expect_server_state close-wait -eq 0 \
    "the server read EOF from the killed client but did not close(): kill -9 sends FIN, and the handler must still close"
  expect_fds -eq "$fds_before" "each closed socket gives its file descriptor back"
}

# bats test_tags=fix
@test "fix: the echo still works, for many lines and many clients" {
  # client line -> server echo, repeated; then client FIN -> server close()
  start_server
  run_client --mode echo --count 10 --lines 5 --interval 5
  expect_results ok -eq 10 "each client sends 5 lines and must get each one back verbatim"
  expect_server_state close-wait -eq 0 "after the clients close, nothing may stay in CLOSE-WAIT"
}

# Peers do not all end with FIN. The tests below end connections the other
# two ways: the client's RST (read() fails), and a failed write (send()
# fails). Each is its own exit path out of the echo loop, and each must close.

# How long a close may trail its log line: the log says the connection is
# over, and a handler that logs first and closes right after needs only
# microseconds, so a leak shows in 1 s instead of WAIT_MS.
SETTLE_MS=1000

# bats test_tags=fix
@test "fix: clients that end with RST -> their descriptors are closed too" {
  # client RST (SO_LINGER 0) -> server read() fails with ECONNRESET -> close() -> fd back
  start_server
  local fds_before; fds_before=$(fd_count)
  run_client --mode abort --count 5
  expect_final ok -eq 5 "each client should get its echo, then abort with RST"
  expect_log 'reason=reset' -eq 5 \
    "each client's RST makes the server's read() fail with ECONNRESET: the server should log reason=reset"
  expect_server_state close-wait -eq 0 "an RST leaves nothing in CLOSE-WAIT"
  WAIT_MS=$SETTLE_MS expect_fds -eq "$fds_before" \
    "the server logged each reset and kept its descriptor. An RST ends the TCP connection at once, so ss shows nothing (not even CLOSE-WAIT), but the descriptor belongs to the program until it calls close(): the read-error path must close too, not only EOF"
}

# stuck_writers: server sockets on $PORT with bytes queued both ways: input it
# has stopped reading, output the client has not taken. The server's thread
# is blocked in send(), waiting for a window the client never opens.
stuck_writers() { server_sockets established | awk '$1 > 0 && $2 > 0 {n++} END {print n + 0}'; }

# bats test_tags=fix
@test "fix: a client killed while the server is writing to it -> the failed write closes too" {
  # client never reads -> server send() blocks on a full window -> client killed with
  # unread data -> its kernel sends RST -> server send() fails (EPIPE/ECONNRESET) -> close()
  start_server
  local fds_before; fds_before=$(fd_count)
  # 4000-byte lines (under every later lesson's --max-line): the buffers fill in few sends,
  # even on a loaded machine (with short lines one run in twelve took over 10 s)
  start_client --mode no-read --count 3 --size 4000 --rcvbuf 4096 --hold 60000
  WAIT_MS=10000 _expect -eq 3 "server sockets with input unread and output unsent" \
    "each client sends lines and never reads a reply, so the server's echo should fill the client's window and block in send()" \
    stuck_writers
  kill_client
  expect_log 'reason=reset' -eq 3 \
    "the killed client's kernel answered with RST (it had unread data), so the server's blocked send() should fail: reason=reset"
  WAIT_MS=$SETTLE_MS expect_fds -eq "$fds_before" \
    "the server's send() failed on each connection (it logged the reset) and kept the descriptor: the write-error path out of the echo loop must close too, not only EOF and read errors"
}

# bats test_tags=fix
@test "fix: a client that half-closes gets every echo, then the server's FIN (not an RST)" {
  # client sends lines, shutdown(SHUT_WR) -> FIN -> server echoes them all, reads EOF
  # -> close() -> FIN after the data -> client reads every echo, then EOF
  start_server
  run_client --mode half-close --count 3 --lines 200 --hold 3000
  expect_final ok -eq 3 \
    "a client sent 200 lines, then FIN, and read until the server's FIN. 'reset': the server ended with RST instead, dropping what was still in flight, which is what close() does with SO_LINGER {1, 0}; a plain close() sends FIN after the data, and CLOSE-WAIT ends by itself in LAST-ACK. 'held': no FIN came at all, the EOF path did not close"
  expect_log 'reason=eof' -eq 3 "each client's FIN makes read() return 0: reason=eof"
}
