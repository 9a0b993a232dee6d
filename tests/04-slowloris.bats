#!/usr/bin/env bats
# Lesson 04: an idle deadline reset by every byte lets a trickling client
# (slowloris) hold a thread forever; a line with no end grows memory forever.
#
# Tagged `bug`: facts about the pristine starter (the bug is real).
# Tagged `fix`: what a fixed server must do (run against the student's
# server by `make check` in the lesson, and against the solution).

load helpers

IDLE=500   # --idle-timeout: the longest silence between two reads
LINE=800   # --line-timeout: the longest a whole line may take
MAX=100    # --max-line: the longest line, in bytes, '\n' not counted
N=10       # tricklers at once

start_line_server() {
  start_server --idle-timeout $IDLE --line-timeout $LINE --max-line $MAX
}

# A trickler: a 1000-byte line, one byte every 100 ms (100 s in all), so the
# idle deadline never fires; only a line deadline or --hold ends it.
start_tricklers() { # HOLD_MS
  start_client --mode slowloris --count $N --interval 100 --size 1000 --hold "$1"
}

# peak_rss_kb: the server's peak resident memory (VmHWM), in kB;
# rss_grown_kb: how much it grew since $rss_before.
peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status"; }
rss_grown_kb() { echo $(( $(peak_rss_kb) - rss_before )); }

# bats test_tags=bug
@test "bug: $N clients trickling one byte per 100 ms outlive a ${IDLE} ms idle timeout" {
  # client byte, 100 ms, byte, ... -> each read() returns in time -> deadline reset -> ESTABLISHED
  start_line_server
  local threads_before; threads_before=$(thread_count)
  start_tricklers 2500
  expect_server_state established -eq $N "the $N tricklers should be connected"
  expect_threads -eq $(( threads_before + N )) "each trickler holds one server thread"
  expect_results held -eq $N \
    "every trickler should still be connected when its own --hold of 2500 ms ends ($(( 2500 / IDLE )) idle timeouts): each byte reset the idle deadline"
  expect_log 'reason=(timeout|line-timeout)' -eq 0 \
    "the starter never timed a trickler out; it only saw them leave (reason=eof) when --hold ran out"
}

# bats test_tags=bug
@test "bug: the starter ignores --max-line: a 32 MB line is buffered whole" {
  # client sends 32 MB without '\n' -> server buffer grows to hold it all -> echo
  start_line_server
  rss_before=$(peak_rss_kb)
  run_client --mode close --size 33554432
  expect_results ok -eq 1 "the starter echoes a 32 MB line although --max-line is $MAX"
  _expect -ge 30000 "kB more peak memory (VmHWM) in the server after one 32 MB line" \
    "without a limit the server buffers the whole line before it sees the '\\n'" rss_grown_kb
}

# bats test_tags=fix
@test "fix: $N tricklers are closed at the line timeout, and their threads end" {
  # client byte, byte, ... -> line deadline (first byte + LINE) passes -> close() -> client reads EOF
  start_line_server
  local threads_before; threads_before=$(thread_count)
  start_tricklers 10000
  expect_server_state established -ge 1 "the tricklers should connect"
  # Certain by then: every close must come by LINE + 1500 ms (below).
  WAIT_MS=$(( LINE + 2000 )) expect_server_state established -eq 0 \
    "each trickler sends a byte every 100 ms, and every byte pushes an idle deadline of $IDLE ms back, so nothing closes them. Set a line deadline once, when a line's first byte arrives, --line-timeout $LINE ms away; read by the earlier of it and the idle deadline"
  expect_log 'reason=line-timeout' -eq $N \
    "each trickler should be logged with reason=line-timeout (the line deadline, not the idle one, passed)"
  expect_close_times line-timeout $(( LINE - 5 )) $(( LINE + 1500 )) \
    "a line deadline of $LINE ms should fire $LINE ms after the line's first byte, not earlier and not much later"
  expect_results '(closed|reset)' -eq $N \
    "each trickler should see the server end its connection: EOF, or RST when a trickled byte was still unread at close() (lesson 07)"
  expect_threads -eq "$threads_before" "the tricklers' threads should end when their connections close"
  expect_server_state established -eq 0 "no trickler may stay connected"
}

# bats test_tags=fix
@test "fix: a line longer than --max-line gets 'ERR line too long', then the server closes" {
  # client sends 199 bytes + '\n' -> server stops at MAX+1 bytes -> "ERR line too long\n" -> close()
  start_line_server
  run_client --mode close --size 200
  expect_results too-long -eq 1 \
    "a 199-byte line is longer than --max-line $MAX: the client should read 'ERR line too long' and then EOF"
  expect_log 'reason=too-long' -eq 1 "the server should log the close with reason=too-long"
  expect_server_state established -eq 0 "after the error the server must close the connection"
  expect_server_state close-wait -eq 0 "after the error the server must close the connection"
}

# bats test_tags=fix
@test "fix: a line of exactly --max-line bytes is still echoed" {
  # client sends MAX bytes + '\n' -> echo -> FIN -> close()
  start_line_server
  run_client --mode close --size $(( MAX + 1 ))
  expect_results ok -eq 1 "--max-line $MAX allows $MAX bytes before the '\\n': that line must come back whole"
  expect_log 'reason=eof' -eq 1 "the client closed after its echo: reason=eof"
}

# bats test_tags=fix
@test "fix: a 32 MB line with no end does not grow the server's memory" {
  # client sends 32 MB -> server reads MAX+1 bytes, answers ERR, close() -> RST to the sender
  # (long timeouts: only --max-line may end this line, however slowly a
  # loaded machine runs the client)
  start_server --idle-timeout 10000 --line-timeout 10000 --max-line $MAX
  rss_before=$(peak_rss_kb)
  run_client --mode close --size 33554432
  _expect -lt 8000 "kB more peak memory (VmHWM) in the server after one 32 MB line" \
    "the line buffer must stop growing at --max-line $MAX bytes (plus one, to see that the line is too long)" \
    rss_grown_kb
  expect_log 'reason=too-long' -eq 1 \
    "the server should give up on the line once it holds more than --max-line $MAX bytes"
}

# bats test_tags=fix
@test "fix: the line deadline is per line: a client talking for longer than $LINE ms is served" {
  # line, echo, 150 ms, line, echo, ... (1.2 s in all) -> each line fast -> FIN -> close()
  start_line_server
  run_client --mode echo --count 5 --lines 8 --interval 150
  expect_results ok -eq 5 \
    "each client sends 8 quick lines over 1.2 s: the line deadline must start again with each line, not once per connection"
  run_client --mode half-close --count 5 --lines 2000
  expect_results ok -eq 5 "2000 lines sent at once (many per read) must all come back, in order"
  expect_log 'reason=eof' -eq 10 "every client closed after its echoes: reason=eof"
}

# bats test_tags=fix
@test "fix: a silent client still gets the idle timeout, logged apart from the line timeout" {
  # client says nothing -> idle deadline (IDLE ms) passes -> close() -> client reads EOF
  start_line_server
  run_client --mode silent --count 3
  expect_results closed -eq 3 "the server should close a silent client after --idle-timeout $IDLE ms"
  expect_log 'reason=timeout ' -eq 3 \
    "a client that sent nothing has no line in progress: that is reason=timeout, not line-timeout"
  expect_close_times timeout $(( IDLE - 5 )) $(( IDLE + 1500 )) "the idle deadline is $IDLE ms"
}

# ---- corners: the exact limit, no deadline at all, a line begun then dropped ----

# A client that sends half a line (49 bytes, no '\n') and then waits for the
# server to close: only a line deadline should end it.
start_half_line() { # HOLD_MS
  start_client --mode partial --size 50 --hold "$1"
}

# bats test_tags=fix,first
@test "fix: the limit is exact: --max-line bytes whose '\\n' comes in a second read are echoed, one byte more is too long" {
  # client sends MAX bytes, 200 ms, '\n' -> server holds MAX bytes, not too long yet -> echo -> FIN -> close()
  start_line_server
  run_client --mode split --size $(( MAX + 1 )) --interval 200
  expect_final ok -eq 1 \
    "the client sent exactly --max-line $MAX bytes, then its '\\n' 200 ms later, so the server read them in two parts. Holding $MAX bytes without a '\\n' is not too long yet: only more than $MAX bytes is. The line must come back whole"
  run_client --mode close --size $(( MAX + 2 ))
  expect_final too-long -eq 1 \
    "a line of $(( MAX + 1 )) bytes is one byte over --max-line $MAX: the client should read 'ERR line too long', then EOF. The '\\n' does not count toward the limit"
}

# bats test_tags=fix
@test "fix: --line-timeout 0 means no line deadline: a line in two reads is echoed, a silent client still gets the idle timeout" {
  # client sends half a line, 200 ms, the rest -> no line deadline -> echo -> FIN -> close()
  start_server --idle-timeout $IDLE --line-timeout 0 --max-line $MAX
  run_client --mode split --size 50 --interval 200
  expect_final ok -eq 1 \
    "with --line-timeout 0 there is no line deadline, so a line whose '\\n' comes 200 ms after its first bytes must be echoed. 0 means none, as SO_RCVTIMEO's 0 does: a deadline of now + 0 ms cuts every line that needs two reads (lesson 03's trap)"
  expect_next_close eof 0 100000 "the split client closed after its echo"
  # client says nothing -> idle deadline (IDLE ms) passes -> close()
  start_client --mode silent --hold 5000
  expect_next_close timeout $(( IDLE - 5 )) $(( IDLE + 500 )) \
    "with no line deadline, a silent client must still meet the idle deadline of --idle-timeout $IDLE ms: compare the two deadlines only when the line deadline is set"
}

# bats test_tags=fix
@test "fix: --idle-timeout 0 means no idle deadline: a client that sends half a line and stops still gets the line timeout" {
  # client sends half a line, then nothing -> no idle deadline -> line deadline (first byte + 300 ms) -> close()
  start_server --idle-timeout 0 --line-timeout 300 --max-line $MAX
  start_half_line 1500
  expect_next_close line-timeout 295 800 \
    "the client sent half a line and then waited. With --idle-timeout 0 the idle deadline is 0, meaning none: it is not the earlier of the two. Read by the line deadline alone, and close 300 ms after the line's first byte"
  expect_results closed -eq 1 "the client should read EOF once the server gives up on its line"
}

# bats test_tags=fix
@test "fix: the line clock starts at a line's first byte and runs while the client is silent; a client with no line begun gets the idle timeout" {
  # client A sends half a line, then nothing -> line deadline (300 ms) before idle deadline (800 ms) -> close()
  # client B says nothing -> no line begun, no line deadline -> idle deadline (800 ms) -> close()
  start_server --idle-timeout 800 --line-timeout 300 --max-line $MAX
  start_half_line 2500
  start_client --mode silent --hold 2500
  expect_next_close line-timeout 295 790 \
    "one client sent half a line and then waited; --line-timeout is 300 ms, --idle-timeout 800 ms. The line deadline must fire while the server waits in read, 300 ms after the first byte (not only when another byte arrives, not in seconds, not the later of the two deadlines)"
  expect_next_close timeout 795 1800 \
    "the other client has sent nothing: no line in progress, so no line deadline. It gets --idle-timeout 800 ms and reason=timeout. Start the line clock when the line's first byte is in the buffer, not when the server starts waiting for a line"
}
