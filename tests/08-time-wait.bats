#!/usr/bin/env bats
# Lesson 08: TIME-WAIT. Whoever closes first holds TIME-WAIT for 60 s; a
# server that closed first and is restarted on the same port cannot bind it
# (EADDRINUSE) unless it sets SO_REUSEADDR before bind().
#
# Tagged `bug`: facts about the pristine starter (the bug is real).
# Tagged `fix`: what a fixed server must do (run against the student's
# server by `make check` in the lesson, and against the solution).

load helpers

N=3

# restart_on_the_same_port: start the server again on $PORT and see whether
# it binds: sets status (0: it listened, and was stopped again; 1: it could
# not listen) and output (its stdout and stderr).
restart_on_the_same_port() {
  local out="$BATS_TEST_TMPDIR/restart.out" pid
  : >"$out"   # emptied now: a poll must not read an earlier run's lines
  "$(server_binary)" --port "$PORT" >"$out" 2>&1 3>&- &
  pid=$!
  wait_until 10000 eval 'grep -q "^listening on " "$out" || process_gone $pid'
  kill -TERM "$pid" 2>/dev/null || true
  status=0
  wait "$pid" || status=$?
  output=$(cat "$out")
}

# expect_server_holds_time_wait: the server closed first, so TIME-WAIT is on
# its side and none on the clients'. Not "exactly $N": under load a client's
# late ACK can cross the server's last ACK, the client (already closed)
# answers with RST, and Linux lets an RST end a TIME-WAIT early
# (net.ipv4.tcp_rfc1337 = 0). Seen here about once in 25 connections on a
# loaded machine; the lesson's README shows it.
expect_server_holds_time_wait() {
  expect_server_state time-wait -ge 1 "the server closed first, so the server's side holds TIME-WAIT, for 60 s"
  expect_server_state time-wait -le $N "at most one TIME-WAIT per connection"
  expect_client_state time-wait -eq 0 "the clients closed second, so their side holds no TIME-WAIT"
}

# bats test_tags=bug
@test "bug: who closes first holds TIME-WAIT: clients that close first keep it on their side, and the server restarts" {
  # client FIN first -> client TIME-WAIT (60 s); server LAST-ACK -> gone; the port is free
  start_server
  run_client --mode close --count $N
  expect_results ok -eq $N "each client echoes a line and closes first"
  expect_client_state time-wait -ge 1 "the clients closed first, so the clients' side holds TIME-WAIT (up to $N: a stray RST can end one early, see the README)"
  expect_server_state time-wait -eq 0 "the server closed second: no TIME-WAIT on its side"
  stop_server
  restart_on_the_same_port
  [[ $output == *"listening on 127.0.0.1:$PORT"* ]] ||
    fail "with no TIME-WAIT on the server's side the port is free, and a restart should bind it: $output"
}

# bats test_tags=bug
@test "bug: the server closed first, so it holds TIME-WAIT; restarted on the same port it fails with EADDRINUSE" {
  # server idle timeout -> server FIN first -> client FIN -> server TIME-WAIT (60 s) -> bind() on the same port: EADDRINUSE
  start_server --idle-timeout 200
  run_client --mode silent --count $N --hold 5000
  expect_results closed -eq $N "the server should close each silent client at its idle timeout, first"
  expect_server_holds_time_wait
  stop_server
  restart_on_the_same_port
  (( status == 1 )) && [[ $output == *"Address already in use"* ]] ||
    fail "while the old connections sit in TIME-WAIT on port $PORT, a server without SO_REUSEADDR cannot bind it (EADDRINUSE); it said (status $status): $output"
}

# bats test_tags=fix
@test "fix: with SO_REUSEADDR the server restarts on its port while its old connections sit in TIME-WAIT" {
  # server closes first -> server TIME-WAIT -> restart: SO_REUSEADDR before bind() -> listening on the same port
  start_server --idle-timeout 200
  local old_port=$PORT
  run_client --mode silent --count $N --hold 5000
  expect_final closed -eq $N "the server should close each silent client at its idle timeout, first"
  expect_server_holds_time_wait
  stop_server
  restart_on_the_same_port
  [[ $output == *"listening on 127.0.0.1:$PORT"* ]] ||
    fail "the restarted server could not bind port $PORT while the old connections sit in TIME-WAIT (it said: $output). Set SO_REUSEADDR on the listening socket before bind(), in both the old and the new server: the TIME-WAIT sockets keep the flag of the server that made them"
  start_server --port "$old_port"
  (( PORT == old_port )) || fail "the server should listen on port $old_port again, not $PORT"
  expect_server_state time-wait -ge 1 "the old connections are still in TIME-WAIT beside the new listener"
  run_client --mode close
  expect_final ok -eq 1 "the restarted server should serve clients"
}

# bats test_tags=fix
@test "fix: SO_REUSEADDR shares the port with old TIME-WAIT connections only: a second server on a port that a live server listens on fails with EADDRINUSE" {
  # server LISTEN on the port -> a second server bind()s it: EADDRINUSE (SO_REUSEADDR or not; SO_REUSEPORT would let both listen)
  start_server
  restart_on_the_same_port
  (( status == 1 )) && [[ $output == *"Address already in use"* ]] ||
    fail "a second server could bind port $PORT while the first still listens on it (status $status: $output): two live servers now share the port, and the kernel splits new connections between them. That is what SO_REUSEPORT does; SO_REUSEADDR lets a new listener share the port only with the connections an old server left in TIME-WAIT"
}
