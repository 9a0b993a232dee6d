# loop-helpers.bash - extra helpers for the event-loop lessons (08, 09),
# loaded after helpers.bash.

# cpu_ms PID: CPU time (user + system) the process has used, in ms,
# from fields 14 and 15 of /proc/PID/stat (clock ticks).
cpu_ms() {
  local ticks hz
  hz=$(getconf CLK_TCK)
  ticks=$(awk '{print $14 + $15}' "/proc/$1/stat")
  echo $(( ticks * 1000 / hz ))
}

# cpu_over MS PID: CPU ms the process used during the next MS ms of wall time.
# (Measuring over a window is the point: it is not an assertion after a sleep.)
cpu_over() {
  local before after
  before=$(cpu_ms "$2")
  sleep "$(awk "BEGIN {print $1 / 1000}")"
  after=$(cpu_ms "$2")
  echo $(( after - before ))
}

# runnable_samples PID N: in N samples 50 ms apart, how often the process was
# in state R (running, or ready and waiting for a CPU). A busy loop is R in
# nearly every sample even when other work crowds the CPUs; a loop asleep in
# epoll_wait()/poll() is S.
runnable_samples() {
  local i n=0
  for (( i = 0; i < $2; i++ )); do
    [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == R ]] && n=$(( n + 1 ))
    sleep 0.05
  done
  echo "$n"
}

# Many connections, or one that pipelines megabytes, come from tools/loadgen
# (one process, epoll).
LOADGEN="$KIT/tools/loadgen"

# loadgen ARGS...: tools/loadgen against $PORT in the foreground; its summary
# line goes to $LOADGEN_OUT.
loadgen() {
  LOADGEN_OUT="$BATS_TEST_TMPDIR/loadgen.out"
  "$LOADGEN" --port "$PORT" "$@" >"$LOADGEN_OUT" 2>&1 3>&-
}
# start_loadgen ARGS...: the same in the background (stopped in teardown).
start_loadgen() {
  LOADGEN_OUT="$BATS_TEST_TMPDIR/loadgen.out"
  "$LOADGEN" --port "$PORT" "$@" >"$LOADGEN_OUT" 2>&1 3>&- &
  CLIENT_PIDS+=("$!")
  LOADGEN_PID=$!
}
# summary KEY: a number from loadgen's summary line (mode=... KEY=N ...).
summary() { sed -n "s/^mode=.* $1=\([0-9]*\).*/\1/p" "$LOADGEN_OUT"; }

# pipeline ARGS...: 4 MiB of numbered 100-byte lines sent as fast as the
# server takes them, read back (after a 300 ms pause, so the buffers surely
# fill) 4 KiB per ms through a 16 KiB receive window.
pipeline() {
  loadgen --mode pipeline --total $(( 4 << 20 )) --size 100 --rcvbuf 16384 \
    --read-start 300 --read-chunk 4096 --read-delay 1 --duration 15000 "$@"
}

# expect_slow_reader_served: a client that pipelines lines and reads the
# replies slowly, for longer than --idle-timeout, gets every byte back and is
# never closed for being idle (run against a server with --idle-timeout 200).
expect_slow_reader_served() {
  pipeline
  if [[ $(summary ok) -ne 1 ]]; then
    grep -q 'reason=timeout' "$SERVER_LOG" &&
      fail "the server closed a client that was reading its replies, only slowly, with reason=timeout ($(grep '^close' "$SERVER_LOG")). While its replies wait, the server reads nothing, so the client's idle clock must not run: restart it when the output is all sent"
    fail "the client read every reply, only slowly, yet did not get all its bytes back: $(cat "$LOADGEN_OUT")"
  fi
  expect_log 'reason=timeout' -eq 0 "no idle timeout: the client was never the one keeping us waiting"
}
