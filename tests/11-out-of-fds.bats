#!/usr/bin/env bats
# Lesson 11: out of descriptors. A server that cannot accept must not spin
# (lesson 10 stops watching the listener), and must not leave the clients
# that do not fit waiting in the listen queue with no answer: a spare
# descriptor sheds them (they read EOF), and --max-conns refuses them before
# the descriptors run out.
#
# Tagged `bug`: facts about the pristine starter. Tagged `fix`: what a fixed
# server must do.

load helpers
load loop-helpers

setup() {
  trace_test_file_only
  ulimit -n 8192 2>/dev/null || true   # 200 clients in one tools/client
}

# listen_queue: how many connections wait in the listener's accept queue
# (for a LISTEN socket, ss shows that queue's length as Recv-Q).
listen_queue() { ss -Hltn "( sport = :$PORT )" | awk '{ n += $2 } END { print n + 0 }'; }

# bats test_tags=bug
@test "bug: out of descriptors (prlimit --nofile=64), 200 clients -> those that do not fit wait in the listen queue, unanswered" {
  # accept() -> EMFILE -> stop watching the listener -> the kernel completes more handshakes and queues them -> no answer, no EOF
  SERVER_WRAPPER="prlimit --nofile=64 ${SERVER_WRAPPER:-}" start_server
  start_client --mode silent --count 200 --hold 20000
  wait_until 5000 eval '(( $(listen_queue) >= 100 ))' ||
    fail "expected over 100 connections waiting in the listen queue (ss -ltn: the LISTEN socket's Recv-Q) of a server out of descriptors; it shows $(listen_queue)"
  local shed; shed=$(client_results closed)
  (( shed == 0 )) ||
    fail "$shed clients read EOF: the starter should leave them all waiting, connected but unanswered"
}

# bats test_tags=fix,first
@test "fix: out of descriptors (prlimit --nofile=64), 200 clients -> no busy loop, extra clients shed, recovery after" {
  # accept() -> EMFILE -> close(spare) -> accept() -> close() (client EOF, 'refuse ... reason=no-fds') -> open(spare); no spin
  SERVER_WRAPPER="prlimit --nofile=64 ${SERVER_WRAPPER:-}" start_server
  start_client --mode silent --count 200 --hold 20000
  WAIT_MS=3000 expect_results closed -ge 100 \
    "the clients that did not fit should be accepted with the spare descriptor and closed at once (they read EOF), not left waiting in the listen queue"
  local cpu woke busy
  read -r cpu woke busy <<<"$(loop_cost 500 "$SERVER_PID")"
  (( cpu <= 100 && busy <= 3 )) ||
    fail_stopped "the server used $cpu ms of CPU in 500 ms, and was running in $busy of 10 samples, out of descriptors: EMFILE leaves the connection queued and the listener readable, so level-triggered epoll reports it again at once and the loop spins (or, when accept() finds the queue empty after the spare is closed, the accept loop itself must stop)"
  local refused; refused=$(client_results closed)
  # (valgrind keeps the top descriptors for itself: an accept() that lands there it
  # closes, unseen by the server, and reports EMFILE; so count only without it)
  [[ ${SERVER_WRAPPER:-} == *valgrind* ]] ||
    WAIT_MS=1000 expect_log '^refuse .*reason=no-fds' -eq "$refused" \
      "each of the $refused clients that read EOF at once should be logged as refused; more EOFs than refusals means connections the server had accepted were closed without a word: after an EMFILE, a spare descriptor that was not opened again is a number some client now holds"
  expect_server_state established -eq $(( 200 - refused )) \
    "the clients the server admitted should all still be connected (they are silent and --hold is 20 s)"
  kill_client     # the admitted clients go: descriptors are free again
  run_client --mode close --count 5
  expect_final ok -eq 5 "with descriptors free again, new clients must be served (the spare was taken back, the listener watched again)"
}

# bats test_tags=fix
@test "fix: --max-conns 5 -> the sixth client and later are accepted and closed at once" {
  # connect -> accept4 -> over the limit -> close() -> client EOF; the first five stay ESTABLISHED
  start_server --max-conns 5
  start_client --mode silent --count 8 --hold 1500
  expect_log 'reason=max-conns' -eq 3 "three clients over the limit should be refused ('refuse ... reason=max-conns')"
  expect_server_state established -eq 5 "the five clients within the limit stay connected"
  wait_until 10000 process_gone "$CLIENT_PID" || fail "the clients did not finish"
  expect_results closed -eq 3 "each refused client should read EOF at once, not wait in the queue"
  expect_results held -eq 5 "the five admitted clients were served until they left"
}
