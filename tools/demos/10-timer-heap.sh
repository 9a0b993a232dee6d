# Lesson 10 demo: the epoll reactor's two bugs live, then the fixed reactor.
# (a) a client that sends fast and reads slowly: the starter drops echo bytes;
# (b) out of descriptors: the starter's loop spins at 100% CPU.
# Then the solution: every byte back in order, no spin, 2000 idle clients
# reaped on time by one thread.

LOADGEN="$kit/tools/loadgen"

slow_reader() { # BINARY: 4 MiB pipelined, read back slowly through a small window
  start_server "$1"
  run_shown "tools/loadgen --mode pipeline --total 4194304 --rcvbuf 16384 --read-delay 1"
  local out; out=$("$LOADGEN" --port "$PORT" --mode pipeline --total 4194304 --size 100 \
    --rcvbuf 16384 --read-chunk 4096 --read-delay 1 --duration 15000 | tail -n 1)
  if [[ $out == *ok=1* ]]; then say "  ${GREEN}result: every byte came back, in order${OFF}"
  else say "  ${RED}result: the echo differs from what was sent (mismatch): bytes were lost${OFF}"; fi
  stop_server
}

out_of_fds() { # LABEL BINARY: 200 clients against a server limited to 64 descriptors
  local label=$1; shift
  local limited; limited=$(mktemp)   # the server, exec'd under a 64-descriptor limit
  printf '#!/bin/sh\nexec prlimit --nofile=64 "%s" "$@"\n' "$1" >"$limited"
  chmod +x "$limited"
  start_server "$limited"
  start_recording "$label: ${1#"$kit"/} under prlimit --nofile=64"
  "$LOADGEN" --port "$PORT" --mode idle --conns 200 --duration 4000 >/dev/null &
  DEMO_PIDS+=($!)
  sleep 0.5
  local i before after
  for (( i = 1; i <= 3; i++ )); do
    before=$(cpu_ms "$SERVER_PID"); sleep 0.5; after=$(cpu_ms "$SERVER_PID")
    printf '  server CPU %3d%% %-25s ESTAB %3d  fds %2d  shed so far %3d\n' \
      $(( (after - before) / 5 )) "$(bar $(( (after - before) / 20 )) "$([[ $(( after - before )) -gt 100 ]] && echo "$RED")")" \
      "$(server_count established)" "$(fd_count)" "$(grep -c 'reason=no-fds' "$SERVER_LOG")"
  done
  stop_server
  rm -f "$limited"
}

title "Lesson 10: a reactor on epoll, and the two ways it breaks"
say "One thread, level-triggered epoll, a timer heap, buffers that exist only while"
say "they hold bytes. The starter still trusts send() and gives up on EMFILE."

title "1a. The starter, a client that sends 4 MiB fast and reads slowly"
slow_reader "$kit/lessons/11-out-of-fds/server"
say "send() on a non-blocking socket takes what fits and returns; the starter drops the rest."
pause

title "1b. The starter, limited to 64 descriptors, 200 clients"
run_shown "prlimit --nofile=64 lessons/11-out-of-fds/server"
out_of_fds "The starter" "$kit/lessons/11-out-of-fds/server"
say "${RED}accept() fails with EMFILE, the connection stays queued, the listener stays${OFF}"
say "${RED}readable, and epoll_wait() returns at once, forever: a busy loop.${OFF}"
pause

title "2a. The solution: an output buffer per client, with backpressure"
slow_reader "$kit/solutions/11-out-of-fds/server"
pause

title "2b. The solution: a spare descriptor sheds what does not fit"
out_of_fds "The solution" "$kit/solutions/11-out-of-fds/server"
say "${GREEN}No spin: each extra client is accepted with the spare fd and closed (it reads EOF).${OFF}"
pause

title "2c. 2000 idle clients, --idle-timeout 1000: one timer each, in a min-heap"
start_server "$kit/solutions/11-out-of-fds/server" --idle-timeout 1000
run_shown "tools/loadgen --mode idle --conns 2000"
say "  client side: $("$LOADGEN" --port "$PORT" --mode idle --conns 2000 --duration 10000 | tail -n 1 | grep -o 'closed=[0-9]* .*max=[0-9]*ms')"
for (( i = 0; i < 100; i++ )); do   # the last log lines follow the last close() by a moment
  (( $(grep -c 'reason=timeout' "$SERVER_LOG") >= 2000 )) && break
  sleep 0.02
done
say "  server log:  $(grep -c 'reason=timeout' "$SERVER_LOG") closed with reason=timeout, after=$(
  sed -n 's/.*reason=timeout after=\([0-9]*\)ms.*/\1/p' "$SERVER_LOG" | sort -n | sed -n '1p;$p' | paste -sd- -)ms from accept"
say "  (loadgen times each connection from the moment it notices it is open, which"
say "  can be a few ms after the server accepted it; the server's own log is exact.)"
say "  server: threads $(thread_count), fds $(fd_count), CLOSE-WAIT $(server_count close-wait)"
stop_server

draw_timeline "Lesson 10 (1b, 2b): 200 idle clients against the reactor limited to 64 descriptors"

title "Now you: cd lessons/11-out-of-fds, read README.md, fix server.c, make check."
