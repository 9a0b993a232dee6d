# Lesson 10 demo: a timer heap whose timers do not move, then the fix.
# Clients that send a line every 150 ms meet the epoll reactor with
# --idle-timeout 400, beside one client that says nothing. Each line pushes a
# client's idle deadline later, but the starter's settle() leaves a timer in
# the heap where it was first put: every client is cut 400 ms after it
# connected, talking or not. The solution moves the timer after every event:
# the talkers finish, the silent one is reaped at 400 ms, and 2000 idle
# clients are reaped on time by one thread.

idle=400 chatty=5 lines=9 gap=150
LOADGEN="$kit/tools/loadgen"

# forget_pid PID: a background client that was waited for: not ours to stop any more.
forget_pid() {
  local p kept=()
  for p in "${DEMO_PIDS[@]}"; do [[ $p == "$1" ]] || kept+=("$p"); done
  DEMO_PIDS=("${kept[@]}")
}

# run_clients: $chatty clients that send $lines lines $gap ms apart, and one
# silent client beside them; show the command and every result line.
run_clients() {
  local out silent pid; out=$(mktemp) silent=$(mktemp)
  "$CLIENT" --port "$PORT" --mode silent --hold 3000 >"$silent" &
  pid=$!
  DEMO_PIDS+=("$pid")
  run_shown "tools/client --port $PORT --mode silent --hold 3000 &      # one that says nothing"
  run_shown "tools/client --port $PORT --mode echo --count $chatty --lines $lines --interval $gap"
  "$CLIENT" --port "$PORT" --mode echo --count "$chatty" --lines "$lines" --interval "$gap" >"$out"
  wait "$pid" 2>/dev/null      # the server closes it (--hold is a backstop)
  forget_pid "$pid"
  sed 's/^/  /' "$out"
  sed 's/^/  /; s/$/    (the silent one)/' "$silent"
  rm -f "$out" "$silent"
}

# show_log: the server's log so far, indented.
show_log() {
  local i
  for (( i = 0; i < 50 && $(grep -c '^close' "$SERVER_LOG") < chatty + 1; i++ )); do sleep 0.02; done
  run_shown "cat server.log"
  sed 's/^/  /' "$SERVER_LOG"
}

title "Lesson 10: a reactor on epoll, with a timer heap"
say "One thread, level-triggered epoll, a table of clients indexed by fd, and one"
say "timer per client, at its nearest deadline, in a min-heap: the loop sleeps until"
say "the top. Each line a client sends pushes its idle deadline $idle ms later, so its"
say "timer must move down the heap with it (O(log n))."

title "1. The starter: lessons/10-timer-heap/server.c, --idle-timeout $idle"
start_server "$kit/lessons/10-timer-heap/server" --idle-timeout "$idle"
start_recording "The starter: lessons/10-timer-heap/server --idle-timeout $idle"
say "$chatty clients send a line every $gap ms for $(( (lines - 1) * gap )) ms: never $idle ms quiet."
run_clients
show_log
say "${RED}Every one was cut at its first idle deadline, $idle ms after accept, in mid-talk.${OFF}"
say "Each line moved the client's deadline (c->by[IDLE] = now + $idle), but settle()"
say "arms a timer only when it is not in the heap yet: the heap still held accept + $idle,"
say "and expire_timers() closes whatever is at the top once its time has come."
say "(The clients see it at their next line, at 450 ms; the server's log is exact.)"
stop_server
pause

title "2. The solution: solutions/10-timer-heap/server.c: settle() re-arms the timer every time"
start_server "$kit/solutions/10-timer-heap/server" --idle-timeout "$idle"
start_recording "The solution: solutions/10-timer-heap/server --idle-timeout $idle"
say "The same $chatty talkers and the same silent client:"
run_clients
show_log
say "${GREEN}The talkers finish and close themselves (reason=eof); only the silent client${OFF}"
say "${GREEN}meets its deadline, $idle ms after accept.${OFF}"
stop_server
pause

title "3. 2000 idle clients, --idle-timeout 1000: one timer each, in the heap"
start_server "$kit/solutions/10-timer-heap/server" --idle-timeout 1000
run_shown "tools/loadgen --port $PORT --mode idle --conns 2000"
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
say "${GREEN}One thread, one epoll_wait() per turn, woken by the top of the heap.${OFF}"
stop_server

draw_timeline "Lesson 10: $chatty clients send a line every $gap ms for $(( (lines - 1) * gap )) ms, 1 says nothing; --idle-timeout $idle"

title "Now you: cd lessons/10-timer-heap, read README.md, fix server.c, make check."
