#!/usr/bin/env bats
# Lesson 06: a peer that vanishes without FIN or RST (power cut, cable
# pulled, NAT entry dropped).
#
# Each test builds two network namespaces joined by a veth pair
# (tools/netpair): the server on 169.254.6.1, the far client on 169.254.6.2.
# Pulling the client's cable (its link goes down) makes it vanish: nothing
# more arrives from it, not even a FIN or an RST. Needs root or unprivileged
# user namespaces; without them every test skips, saying why.
#
# Tagged `bug`: facts about the pristine starter (the bug is real).
# Tagged `fix`: what a fixed server must do (run against the student's
# server by `make check` in the lesson, and against the solution).

load helpers

NETPAIR="$KIT/tools/netpair"
SRV_ADDR=169.254.6.1   # the server's host
CLI_ADDR=169.254.6.2   # the far client's host, whose cable the tests pull
IDLE=300               # --idle-timeout when a test wants a read deadline
USER_TIMEOUT=1000      # --user-timeout: sent data may stay unacknowledged 1 s
KEEPALIVE=1000         # --keepalive: probe after 1 s of silence, every 1 s, 3 probes

setup_file() {
  # Once per file: can this machine build network namespaces at all?
  local why
  why=$("$KIT/tools/netpair" check 2>&1) || export NETPAIR_SKIP="lesson 06 needs network namespaces: $why"
}

setup() {
  trace_test_file_only
  [[ -z ${NETPAIR_SKIP:-} ]] || skip "$NETPAIR_SKIP"
  NET="kit06-${BATS_ROOT_PID}-${BATS_TEST_NUMBER}"
  "$NETPAIR" up "$NET" || fail "tools/netpair could not build the namespaces '$NET'"
  # start_server (helpers.bash) runs the server through this, on the server's host.
  SERVER_WRAPPER="$NETPAIR srv $NET ${SERVER_WRAPPER:-}"
}

teardown() {
  stop_clients
  stop_server
  [[ -z ${NET:-} ]] || "$NETPAIR" down "$NET"
}

# ---- the two hosts -------------------------------------------------------

start_dead_peer_server() { start_server --host "$SRV_ADDR" "$@"; }

# start_far_client ARGS...: a tools/client on the client's host, across the
# cable. Its result lines go to $CLIENT_OUT.
start_far_client() {
  CLIENT_OUT="$BATS_TEST_TMPDIR/client.out"
  : >"$CLIENT_OUT"   # emptied now: a poll must not read an earlier run's lines
  "$NETPAIR" cli "$NET" "$CLIENT" --host "$SRV_ADDR" --port "$PORT" "$@" >"$CLIENT_OUT" 2>&1 3>&- &
  CLIENT_PIDS+=("$!")
}

# start_near_client ARGS...: a healthy client on the server's own host, which
# no cable cut touches.
start_near_client() {
  NEAR_OUT="$BATS_TEST_TMPDIR/near.out"
  : >"$NEAR_OUT"   # emptied now: a poll must not read an earlier run's lines
  "$NETPAIR" srv "$NET" "$CLIENT" --host "$SRV_ADDR" --port "$PORT" "$@" >"$NEAR_OUT" 2>&1 3>&- &
  CLIENT_PIDS+=("$!")
}

# start_near_client_to FILE ARGS...: start_near_client, with its result lines
# in FILE (for a test with more than one near client).
start_near_client_to() {
  local out=$1; shift
  : >"$out"   # emptied now: a poll must not read an earlier run's lines
  "$NETPAIR" srv "$NET" "$CLIENT" --host "$SRV_ADDR" --port "$PORT" "$@" >"$out" 2>&1 3>&- &
  CLIENT_PIDS+=("$!")
}

# The helpers' ss counts, looked up on the server's host.
server_sockets() { "$NETPAIR" srv "$NET" ss -Htan state "$1" "( sport = :$PORT )"; }

# far_socket: the server's side of the far client's connection, with its
# timer (ss -o), e.g. `0 14 169.254.6.1:4242 169.254.6.2:5151 timer:(on,400ms,3)`.
far_socket() {
  "$NETPAIR" srv "$NET" ss -Htano state established "( sport = :$PORT and dst $CLI_ADDR )"
}
near_socket() {
  "$NETPAIR" srv "$NET" ss -Htano state established "( sport = :$PORT and dst $SRV_ADDR )"
}
far_count() { far_socket | wc -l; }
far_send_q() { far_socket | awk '{ n += $2 } END { print n + 0 }'; }
# far_timer: the timer field (timer:(on,...) while retransmitting), or "none".
far_timer() { local t; t=$(far_socket | grep -o 'timer:([^)]*)'); echo "${t:-none}"; }
# far_retransmits: how many times the server has retransmitted to the far client.
far_retransmits() { far_timer | sed -n 's/^timer:(on,[^,]*,\([0-9]*\))$/\1/p'; }

# timer_ms TIME: an ss -o timer time in ms. This ss writes 532ms, 4.424ms
# (4 s 424 ms), 21sec, 16min, 2min5sec, and nothing for "due now".
timer_ms() {
  local t=$1 ms=0
  [[ $t =~ ([0-9]+)min ]] && ms=$(( ms + 10#${BASH_REMATCH[1]} * 60000 ))
  [[ $t =~ ([0-9]+)(sec|\.) ]] && ms=$(( ms + 10#${BASH_REMATCH[1]} * 1000 ))
  [[ $t =~ ([0-9]+)ms ]] && ms=$(( ms + 10#${BASH_REMATCH[1]} ))
  echo "$ms"
}
# near_keepalive_due: the time in timer:(keepalive,TIME,N) of the near
# client's connection: when the kernel sends its next probe.
near_keepalive_due() { near_socket | sed -n 's/.*timer:(keepalive,\([^,]*\),.*/\1/p'; }

far_connected() { (( $(far_count) == 1 )); }
reply_in_flight() { (( $(far_send_q) > 0 )) && [[ $(far_timer) == timer:\(on,* ]]; }
retransmitted_3_times() { (( $(far_retransmits) >= 3 )); }

# pull_the_cable: the far client's link goes down. Sets CUT_MS.
pull_the_cable() {
  CUT_MS=$(now_ms)
  "$NETPAIR" cut "$NET" || fail "could not take the client's link down"
}

# leave_a_reply_in_flight: make the far client deaf (the server's packets no
# longer reach it; its own still reach the server), so the echo of its next
# line is never acknowledged. On a veth an echo is acknowledged within
# microseconds, too fast to pull the cable in between; a deaf client stands
# in for a real network's round trip. Sets DEAF_MS and IN_FLIGHT_MS.
leave_a_reply_in_flight() {
  DEAF_MS=$(now_ms)
  "$NETPAIR" deafen "$NET" || fail "could not make the client deaf"
  wait_until "$WAIT_MS" reply_in_flight ||
    fail "the echo of the far client's next line should wait unacknowledged in the server's Send-Q, with the retransmit timer on; ss saw: $(far_socket)"
  IN_FLIGHT_MS=$(now_ms)
}

# expect_dead_peer_closed MS MEANING: within MS ms the server closes the far
# client's connection, and logs it as reason=dead-peer.
expect_dead_peer_closed() {
  local ms=$1 meaning=$2 line
  wait_until "$ms" eval 'log_matches "^close $CLI_ADDR:"; (( MATCHES >= 1 ))' ||
    fail "$meaning. The server closed nothing; ss on its host saw: $(far_socket)"
  line=$(grep "^close $CLI_ADDR:" "$SERVER_LOG" | head -n 1)
  [[ $line == *reason=dead-peer\ * ]] ||
    fail "the server closed the dead peer's connection, but logged '$line'. With --idle-timeout 0 no deadline of ours exists: this ETIMEDOUT is the kernel giving up on the peer, reason=dead-peer"
}

# What expect_stays adds to a failure: the far client's socket as ss sees it.
stays_context() { echo "ss on the server's host: $(far_socket)"; }

# A chatty far client: a line every 100 ms, for longer than any test.
start_chatty_far_client() { start_far_client --mode echo --lines 1000 --interval 100 --hold 30000; }

# ---- the tests ---------------------------------------------------------

# bats test_tags=bug,fix
@test "the read deadline catches an idle dead peer: closed --idle-timeout $IDLE ms after its last line, reason=timeout" {
  # client link down -> silence -> read deadline passes -> close() -> thread free
  # (the server's FIN then goes unanswered: the kernel, not the thread, retries it)
  start_dead_peer_server --idle-timeout "$IDLE"
  local threads_before; threads_before=$(thread_count)
  start_chatty_far_client
  wait_until "$WAIT_MS" far_connected || fail "the far client should connect across the cable"
  pull_the_cable
  expect_log 'reason=timeout' -eq 1 \
    "the far client's lines stopped when its cable was pulled: the read deadline should end the connection ${IDLE} ms later, logged as reason=timeout (our own deadline, not the kernel's verdict)"
  local took=$(( $(now_ms) - CUT_MS ))
  (( took <= IDLE + 2000 )) ||
    fail "the server closed the dead peer's connection $took ms after the cable was pulled (expected about $IDLE ms, the read deadline)"
  expect_log 'reason=dead-peer' -eq 0 "the read deadline passed first: that is reason=timeout"
  expect_threads -eq "$threads_before" "the dead peer's thread should be free again"
  _expect -eq 0 "ESTABLISHED sockets to the dead peer ($CLI_ADDR)" \
    "the server closed the connection, so nothing to the dead peer stays ESTABLISHED" far_count
}

# bats test_tags=bug
@test "bug: with no read deadline, an idle dead peer stays ESTABLISHED, and ss -o shows no timer: nothing will ever notice" {
  # client link down -> silence -> nothing in flight, no keepalive -> ESTABLISHED for ever
  start_dead_peer_server --idle-timeout 0
  start_far_client --mode silent --hold 30000
  wait_until "$WAIT_MS" far_connected || fail "the far client should connect across the cable"
  pull_the_cable
  no_timer() { far_connected && [[ $(far_timer) == none ]]; }
  expect_stays 2000 \
    "the connection to the vanished client should stay ESTABLISHED with no timer at all: nothing is in flight, and no keepalive is set" \
    no_timer
  expect_log 'reason=' -eq 0 "the starter closed nothing: its thread still waits in read() for a client that is gone"
}

# bats test_tags=bug
@test "bug: a reply in flight to a dead peer is retransmitted (ss -o timer:(on,...)) and the connection stays, for ~15 minutes" {
  # echo sent -> no ACK -> RTO retransmits, backing off 200 ms ... 120 s -> gives up past tcp_retries2's budget (15: ~924.6 s)
  start_dead_peer_server --idle-timeout 0
  start_chatty_far_client
  wait_until "$WAIT_MS" far_connected || fail "the far client should connect across the cable"
  leave_a_reply_in_flight
  pull_the_cable
  wait_until 8000 retransmitted_3_times ||
    fail "the server should retransmit its unacknowledged echo, again and again (ss -o shows timer:(on,TIME,RETRANSMITS)); ss saw: $(far_socket)"
  local retries2; retries2=$(cat /proc/sys/net/ipv4/tcp_retries2 2>/dev/null || echo 15)
  far_connected ||
    fail "the connection should still be ESTABLISHED after 3 retransmits: the kernel gives up only once the time tcp_retries2 = $retries2 stands for has passed (about 924.6 s for 15)"
  (( $(far_send_q) > 0 )) || fail "the echo should still wait in Send-Q, unacknowledged"
  expect_log 'reason=' -eq 0 \
    "the starter closed nothing: its thread waits in read() while the kernel retransmits, with backoff, for about 15 minutes (tcp_retries2 = $retries2)"
}

# bats test_tags=fix
@test "fix: --user-timeout $USER_TIMEOUT: a reply in flight to a dead peer is given up within ~1.5 s, not 15 minutes, reason=dead-peer" {
  # echo sent -> no ACK -> retransmits -> TCP_USER_TIMEOUT passes -> ETIMEDOUT -> close()
  start_dead_peer_server --idle-timeout 0 --user-timeout "$USER_TIMEOUT"
  local threads_before fds_before; threads_before=$(thread_count); fds_before=$(fd_count)
  start_chatty_far_client
  wait_until "$WAIT_MS" far_connected || fail "the far client should connect across the cable"
  leave_a_reply_in_flight
  pull_the_cable
  expect_dead_peer_closed $(( USER_TIMEOUT + 2500 )) \
    "an echo has waited unacknowledged for more than --user-timeout $USER_TIMEOUT ms: with TCP_USER_TIMEOUT set on the connection's socket (the one accept() returned, not the listening one), the kernel gives up, the blocked read() fails with ETIMEDOUT, and the server closes"
  local seen=$(( $(now_ms) - IN_FLIGHT_MS )) since_deaf=$(( $(now_ms) - DEAF_MS ))
  (( seen <= USER_TIMEOUT + 2000 )) ||
    fail "the server gave up $seen ms after its echo was seen in flight (expected about $USER_TIMEOUT ms after the first retransmission, which comes some 0.4 s after the send: TCP_USER_TIMEOUT bounds how long sent data may stay unacknowledged)"
  (( since_deaf >= USER_TIMEOUT - 50 )) ||
    fail "the server gave up only $since_deaf ms after the client went deaf, sooner than --user-timeout $USER_TIMEOUT: is the option in milliseconds?"
  _expect -eq 0 "ESTABLISHED sockets to the dead peer ($CLI_ADDR)" \
    "once the kernel gives up, the connection is gone" far_count
  expect_threads -eq "$threads_before" "the dead peer's thread should be free again"
  expect_fds -eq "$fds_before" "the dead peer's socket should be closed"
}

# bats test_tags=fix
@test "fix: --keepalive $KEEPALIVE: an idle dead peer is given up after ~4 s of silence; a healthy quiet client answers the probes and stays" {
  # silence -> keepalive probe, every 1 s -> no answer x3 -> ETIMEDOUT -> close(); healthy peer ACKs each probe
  start_dead_peer_server --idle-timeout 0 --keepalive "$KEEPALIVE"
  start_near_client --mode silent --hold 30000
  start_far_client --mode silent --hold 30000
  wait_until "$WAIT_MS" far_connected || fail "the far client should connect across the cable"
  wait_until 3000 eval '[[ $(near_socket) == *"timer:(keepalive"* ]]' ||
    fail "with --keepalive every connection's socket should show timer:(keepalive,...) in ss -o from its accept() on, even a client that has not said a word yet: set the options on the socket accept() returned, before the first read. ss saw the quiet healthy client's: $(near_socket)"
  local due; due=$(near_keepalive_due)
  (( $(timer_ms "$due") <= 2 * KEEPALIVE )) ||
    fail "the server's next keepalive probe to the quiet client is due in '$due' (ss -o: $(near_socket | grep -o 'timer:([^)]*)')), expected within --keepalive $KEEPALIVE ms. TCP_KEEPIDLE and TCP_KEEPINTVL count whole seconds ($KEEPALIVE ms is $(( (KEEPALIVE + 999) / 1000 ))), and SO_KEEPALIVE alone keeps Linux's defaults: the first probe after 2 hours of silence"
  pull_the_cable
  expect_dead_peer_closed $(( 4 * KEEPALIVE + 2000 )) \
    "the far client has been silent since its cable was pulled: after 1 s the kernel should probe it, every 1 s, and give up after 3 unanswered probes (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT); the blocked read() then fails with ETIMEDOUT"
  local took=$(( $(now_ms) - CUT_MS ))
  (( took >= 2 * KEEPALIVE && took <= 4 * KEEPALIVE + 2000 )) ||
    fail "the server gave up on the silent dead peer $took ms after its cable was pulled (expected 3 to 4 s: 1 s of silence, then 3 probes 1 s apart, TCP_KEEPCNT 3; TCP_KEEPIDLE and TCP_KEEPINTVL are in seconds)"
  [[ $(near_socket) == *"timer:(keepalive"* ]] ||
    fail "the healthy quiet client on the server's host should still be ESTABLISHED: its kernel answers every probe, however quiet the program is"
  expect_log 'reason=' -eq 1 "only the dead peer may be closed"
}

# bats test_tags=fix
@test "fix: --user-timeout $USER_TIMEOUT also ends a live client that stopped reading, while the server writes; our far-off deadlines do not claim it: reason=dead-peer; a reading client stays" {
  # client stops reading -> its window 0 -> echoes wait unsent; window probes are answered, with window 0 -> TCP_USER_TIMEOUT passes -> send() fails with ETIMEDOUT -> close(); the reading client is untouched
  # No cable is pulled: both clients run on the server's own host.
  start_dead_peer_server --idle-timeout 30000 --write-timeout 30000 --user-timeout "$USER_TIMEOUT"
  local reader="$BATS_TEST_TMPDIR/reader.out" stopper="$BATS_TEST_TMPDIR/stopper.out" line after
  start_near_client_to "$reader" --mode echo --lines 1000 --interval 100 --hold 30000
  start_near_client_to "$stopper" --mode no-read --size 1000 --hold 30000
  wait_until $(( USER_TIMEOUT + 2500 )) eval 'log_matches "^close "; (( MATCHES >= 1 ))' ||
    fail "a client that stopped reading has left the server's echoes unsent for more than --user-timeout $USER_TIMEOUT ms (its window is 0): with TCP_USER_TIMEOUT set, the kernel gives up on it and the server's blocked send() fails with ETIMEDOUT. The server closed nothing; ss on its host saw: $(server_sockets established | tr -s ' ' | paste -sd ';' -)"
  line=$(grep -m 1 '^close ' "$SERVER_LOG")
  case $line in
    *reason=dead-peer\ *) ;;
    *reason=write-timeout\ *|*reason=timeout\ *)
      fail "the server logged '$line', but its own deadlines (--idle-timeout 30000, --write-timeout 30000) are 30 s away: this ETIMEDOUT is the kernel giving up (TCP_USER_TIMEOUT), reason=dead-peer; read_by() and write_by() report their own deadlines as EAGAIN" ;;
    *) fail "the server should log the client that stopped reading as reason=dead-peer (the kernel's TCP_USER_TIMEOUT verdict), but logged '$line'" ;;
  esac
  after=$(sed -n 's/.* after=\([0-9]*\)ms$/\1/p' <<<"$line")
  (( after >= USER_TIMEOUT )) ||
    fail "the server gave up on the client that stopped reading $after ms after accepting it, sooner than --user-timeout $USER_TIMEOUT ms allows (expected some 1.5 s): TCP_USER_TIMEOUT takes milliseconds, not seconds"
  (( $(log_count '^close ') == 1 )) && [[ ! -s $reader ]] ||
    fail "only the client that stopped reading may be closed: the one that reads every echo acknowledges all the server sends, and the user timeout never runs out on it. Server log: $(paste -sd ';' "$SERVER_LOG"); reading client: $(cat "$reader")"
}

# bats test_tags=fix
@test "fix: healthy clients are served as before with --user-timeout and --keepalive" {
  # line -> echo, many times, across the cable -> client FIN -> close()
  start_dead_peer_server --idle-timeout 0 --user-timeout "$USER_TIMEOUT" --keepalive "$KEEPALIVE"
  CLIENT_OUT="$BATS_TEST_TMPDIR/client.out"
  "$NETPAIR" cli "$NET" "$CLIENT" --host "$SRV_ADDR" --port "$PORT" \
    --mode echo --count 10 --lines 5 --interval 20 --hold 4000 >"$CLIENT_OUT" 2>&1 3>&-
  expect_results ok -eq 10 "clients whose host is alive must be served as before"
  expect_log 'reason=eof' -eq 10 "each client closed after its echoes: reason=eof"
}
