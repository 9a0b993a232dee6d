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
