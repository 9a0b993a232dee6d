#!/usr/bin/env bats
# Lesson 07: closing a connection well. Two ways a close goes wrong:
#   (a) close() with input unread sends RST: the client's send() fails and
#       replies not yet sent are lost;
#   (b) EOF taken for "the client has gone": a half-closed client loses its
#       replies.
#
# Tagged `bug`: facts about the pristine starter (the bugs are real).
# Tagged `fix`: what a fixed server must do (run against the student's
# server by `make check` in the lesson, and against the solution).

load helpers

MAX_LINE=1000        # --max-line: longer lines get `ERR line too long`
BIG=16777216         # a 16 MB line: more than the kernel buffers hold in flight
LINGER_MS=1000       # how long the fixed server drains before it gives up
N=3

ERR_LEN=18           # "ERR line too long\n"

# echo_bytes CONN LINES: how many bytes the echoes of lines 1..LINES of
# client CONN take ("conn C line K\n" each), as tools/client sends them.
echo_bytes() {
  local k total=0 line
  for (( k = 1; k <= $2; k++ )); do line="conn $1 line $k"; total=$(( total + ${#line} + 1 )); done
  echo "$total"
}

# client_lines PATTERN: the client's result lines matching PATTERN (ERE).
client_lines() { grep -cE "$1" "$CLIENT_OUT" 2>/dev/null || true; }

# run_client_within MS ARGS...: run_client, but clients still running after
# MS ms fail the test at once, with their sockets as ss shows them, instead
# of holding it: --hold does not bound a send() that blocks because the
# server's window is 0, and such a send() waits as long as the server's
# kernel keeps the connection (a minute or more).
run_client_within() {
  local ms=$1 pid; shift
  CLIENT_OUT="$BATS_TEST_TMPDIR/client.out"
  "$CLIENT" --port "$PORT" "$@" >"$CLIENT_OUT" 2>&1 3>&- &
  pid=$!
  CLIENT_PIDS+=("$pid")
  wait_until "$ms" process_gone "$pid" ||
    fail "the clients should be done within $ms ms (send, read the replies and EOF), but some are still sending. ss on the client side of port $PORT: $(ss -Htano "( dport = :$PORT )" | tr -s ' ' | paste -sd ';' -). Send-Q stuck with timer:(persist,...) means the server's window is 0: it stopped reading, yet never reset the connection. shutdown(SHUT_RDWR) shuts our reading too; shut only SHUT_WR, then read until EOF or the linger deadline"
  wait "$pid" 2>/dev/null || true
}

# ---- (a) close() with unread input: RST -------------------------------

# bats test_tags=bug
@test "bug (a): close() with the rest of a too-long line unread sends RST: the client's send() fails with ECONNRESET" {
  # client sends 16 MB line -> server reads $MAX_LINE+1 bytes, sends ERR, close() with input unread -> RST -> client send(): ECONNRESET
  start_server --max-line $MAX_LINE
  run_client --mode too-long --lines 1 --size $BIG --count $N
  expect_log 'reason=too-long' -eq $N "the server should refuse each line as too long"
  expect_results reset -eq $N \
    "each client was still sending its line when the server called close() with that input unread: the kernel answered with RST, and the client's next send() failed with ECONNRESET before it had read a byte of the reply"
  (( $(client_lines " sent=$BIG ") == 0 )) || fail "no client could send its whole line: the RST ended the connection first"
  (( $(client_lines 'result=reset .* echoed=18 reply=err read-end=eof') == N )) ||
    fail "after the failed send() each client should still read the 18 bytes of 'ERR line too long' (they reached its receive buffer before the RST did), then EOF (the send() had already taken the error): $(head -c 400 "$CLIENT_OUT")"
}

# bats test_tags=bug
@test "bug (a): the RST throws away the replies the server had not yet sent" {
  # small client window -> echoes wait in the server's Send-Q -> close() with input unread -> RST -> Send-Q discarded
  start_server --max-line $MAX_LINE
  run_client --mode too-long --lines 2000 --size $BIG --rcvbuf 4096 --count 2
  local all=$(( $(echo_bytes 1 1999) + ERR_LEN ))
  expect_results reset -eq 2 "the server closed with the long line unread: RST, and the clients' send() failed"
  local got
  for got in $(sed -n 's/.* echoed=\([0-9]*\) .*/\1/p' "$CLIENT_OUT"); do
    (( got < all )) || fail "a client read all $got bytes of its replies, though its small receive window kept most of them in the server's Send-Q until the RST"
  done
  (( $(client_lines 'reply=other read-end=eof') == 2 )) ||
    fail "each client should read only the echoes that fitted its receive window, then EOF: the rest, and the ERR line, were still in the server's send queue when close() reset the connection: $(head -c 400 "$CLIENT_OUT")"
}

# bats test_tags=fix
@test "fix (a): a lingering close: the client sends its whole line, reads 'ERR line too long', then EOF; no RST" {
  # ERR -> shutdown(SHUT_WR): FIN after it -> drain the rest of the line -> client reads ERR + EOF, closes -> EOF -> close(): nothing unread, no RST
  start_server --max-line $MAX_LINE
  run_client_within 4000 --mode too-long --lines 1 --size $BIG --count $N
  expect_log 'reason=too-long' -eq $N "the server should refuse each line as too long"
  expect_final too-long -eq $N \
    "each client should send all $BIG bytes, then read 'ERR line too long' and EOF. A close() with input unread sends RST instead, and the client's send() fails: shutdown(SHUT_WR) first, read and discard until EOF (or $LINGER_MS ms), then close()"
  (( $(client_lines "sent=$BIG echoed=18 reply=err read-end=eof") == N )) ||
    fail "each client should have sent its whole line and read exactly the ERR line, then EOF: $(head -c 400 "$CLIENT_OUT")"
}

# bats test_tags=fix
@test "fix (a): replies still queued when the server decides to close all reach the client, then EOF" {
  # echoes queued behind a small window -> ERR -> shutdown(SHUT_WR): FIN after them -> drain -> client reads all, then EOF
  start_server --max-line $MAX_LINE
  run_client_within 10000 --mode too-long --lines 2000 --size $BIG --rcvbuf 4096 --count 2
  local all=$(( $(echo_bytes 1 1999) + ERR_LEN ))
  expect_final too-long -eq 2 \
    "each client should read the echoes of its 1999 short lines, then 'ERR line too long', then EOF: a lingering close keeps the connection until the client has them"
  (( $(client_lines "echoed=$all reply=err read-end=eof") == 2 )) ||
    fail "each client should read all $all bytes of replies (1999 echoes and the ERR line): $(head -c 400 "$CLIENT_OUT")"
}

# bats test_tags=fix
@test "fix (a): the lingering is bounded: a client that never stops sending is closed $LINGER_MS ms after the server gives up on it" {
  # write deadline -> shutdown(SHUT_WR) (FIN-WAIT-1: FIN queued behind unread echoes) -> drain for $LINGER_MS ms -> close() -> RST
  start_server --write-timeout 300
  local threads_before; threads_before=$(thread_count)
  start_client --mode no-read --count 2 --size 1000 --hold 10000
  # FIN-WAIT-1 lasts from the write deadline to the end of the drain: past
  # that there is nothing left to wait for.
  WAIT_MS=$(( 300 + LINGER_MS + 1000 )) expect_server_state fin-wait-1 -eq 2 \
    "after its write deadline the server should shutdown(SHUT_WR) first, then keep reading: its side goes to FIN-WAIT-1 (its FIN waits behind echoes the clients never read) while it drains. None there: it drained without sending its FIN first, or closed at once (with input unread: RST)"
  wait_until $(( 300 + LINGER_MS + 2000 )) eval 'log_matches "reason=write-timeout"; (( MATCHES == 2 ))' ||
    fail "the server should close each flooding client $LINGER_MS ms after its 300 ms write deadline, logged as reason=write-timeout, but only $(log_count 'reason=write-timeout') of 2 were closed in time. The drain needs one deadline for all of it, set once before the loop, and must stop there: a deadline renewed for each read never passes while the client keeps sending, no deadline waits as long as the client sends, and a loop that goes on while read_by() returns -1 spins at the deadline"
  wait "$CLIENT_PID" 2>/dev/null || true
  expect_final reset -eq 2 "a client that is still sending when the linger time is up gets an RST: that is the point of the deadline"
  expect_result_times reset $(( 300 + LINGER_MS - 100 )) $(( 300 + LINGER_MS + 3000 )) \
    "the server should keep draining for $LINGER_MS ms after its 300 ms write deadline, not less (a plain close() resets at once) and not for ever"
  expect_threads -eq "$threads_before" "the lingering threads should end"
}

# ---- (b) half-close -----------------------------------------------------

# bats test_tags=bug
@test "bug (b): a client that half-closes gets none of its replies: EOF was taken for 'the client has gone'" {
  # client lines + FIN in one segment -> server reads lines, sees EOF -> client_gone() -> close() without echoing
  start_server
  run_client --mode half-close-fin --lines 50 --count 5
  expect_results mismatch -eq 5 \
    "each client sent 50 lines and shutdown(SHUT_WR), then waited for its echoes: the starter saw the EOF, decided the client had gone and closed without a reply"
  (( $(client_lines ' echoed=0$') == 5 )) || fail "no echo at all should reach the clients: $(head -c 400 "$CLIENT_OUT")"
}

# bats test_tags=fix
@test "fix (b): a client that half-closes gets every reply, then EOF" {
  # client lines + FIN -> server echoes every line read -> EOF ends the reading -> FIN -> client reads all, then EOF
  start_server
  run_client --mode half-close-fin --lines 50 --count 5
  expect_final ok -eq 5 \
    "each client sent 50 lines, then shutdown(SHUT_WR): it is done sending, not gone, and must get all 50 echoes before the server's FIN. EOF means no more requests, not 'stop answering'"
  run_client --mode half-close --lines 2000 --count 5
  expect_final ok -eq 5 "2000 lines, then shutdown(SHUT_WR): all 2000 echoes must come back"
  expect_log 'reason=eof' -eq 10 "each half-closed client is logged as reason=eof, after its echoes"
}
