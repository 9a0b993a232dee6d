# Lesson 09 demo: an event loop that sleeps through its deadlines, then the fix.
# 200 silent clients connect to a one-thread poll() server with
# --idle-timeout 1000. The starter's next_timeout() returns -1, so poll() waits
# forever and nobody is reaped until an unrelated client connects and wakes the
# loop; the solution reaps them on time.

count=200 idle=1000

watch_rows() { # ROWS: one row every 500 ms: time, ESTAB, threads, fds
  local r t0=$1 rows=$2 est
  for (( r = 1; r <= rows; r++ )); do
    sleep 0.5
    est=$(server_count established)
    printf '  t=%5d ms  server ESTAB %3d %-25s threads %s  fds %3d\n' \
      $(( $(date +%s%3N) - t0 )) "$est" "$(bar $(( est / 8 )) "$([[ $est -gt 0 ]] && echo "$RED")")" \
      "$(thread_count)" "$(fd_count)"
  done
}

silent_clients() { # start $count silent clients in the background
  "$CLIENT" --port "$PORT" --mode silent --count "$count" --hold 20000 >/dev/null &
  DEMO_PIDS+=($!)
  local i
  for (( i = 0; i < 100 && $(server_count established) < count; i++ )); do sleep 0.02; done
}

title "Lesson 09: an event loop must wake up for its deadlines"
say "One thread, non-blocking sockets, poll(). Each client's idle deadline, c->by[IDLE],"
say "is $idle ms after its accept or last byte; expire_deadlines() closes overdue clients"
say "each time poll() returns."

title "1. The starter: poll(fds, n, -1), wait until a socket is ready"
start_server "$kit/lessons/09-event-loop/server" --idle-timeout "$idle"
start_recording "The starter: lessons/09-event-loop/server --idle-timeout $idle"
say "$count silent clients connect at t=0. Their deadline is t=$idle ms."
t0=$(date +%s%3N)
silent_clients
watch_rows "$t0" 6
say "${RED}The deadline passed long ago, and nobody was reaped: nothing woke poll().${OFF}"
pause
say "Now one unrelated client sends one line..."
run_shown "tools/client --port $PORT --mode close"
"$CLIENT" --port "$PORT" --mode close >/dev/null
sleep 0.2
say "  server ESTAB $(server_count established)   reaped: $(grep -c 'reason=timeout' "$SERVER_LOG"), the first log line:"
say "  $(grep -m1 'reason=timeout' "$SERVER_LOG")"
late=$(( $(sed -n '1s/.*after=\([0-9]*\)ms.*/\1/p' <(grep -m1 'reason=timeout' "$SERVER_LOG")) - idle ))
say "${RED}Its connection woke poll(); only then were the deadlines checked, $late ms late.${OFF}"
stop_server
pause

title "2. The solution: next_timeout() is the time left until the nearest deadline"
start_server "$kit/solutions/09-event-loop/server" --idle-timeout "$idle"
start_recording "The solution: solutions/09-event-loop/server --idle-timeout $idle"
say "$count silent clients connect at t=0. Their deadline is t=$idle ms."
t0=$(date +%s%3N)
silent_clients
watch_rows "$t0" 4
say "  $(grep -m1 'reason=timeout' "$SERVER_LOG")"
say "${GREEN}poll() woke at the deadline: every silent client closed on time, by one thread.${OFF}"
stop_server
draw_timeline "Lesson 09: $count silent clients, --idle-timeout $idle, one poll() loop; one unrelated client at the end (starter)"

title "Now you: cd lessons/09-event-loop, read README.md, fix next_timeout(), make check."
