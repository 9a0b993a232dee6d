# Lesson 11 demo: out of descriptors, and the clients who wait.
# The reactor runs under prlimit --nofile=64 and 200 silent clients connect.
# The starter (lesson 10's reactor) stops watching the listener on EMFILE, so
# it does not spin, but the clients that do not fit wait in the listen queue
# (the LISTEN socket's Recv-Q in ss), connected and unanswered. The solution
# spends a spare descriptor to accept each of them and close it at once (they
# read EOF, the log says `refuse ... reason=no-fds`); --max-conns refuses
# them before the descriptors run out.

limit=64 count=200 hold=3000
LIMITED=''   # a wrapper that execs a server under prlimit --nofile=$limit

# limited BINARY: a script that runs BINARY under prlimit --nofile=$limit, in
# $LIMITED (start_server takes one binary; the wrapper execs, so its PID is
# the server's).
limited() {
  if [[ -z $LIMITED ]]; then
    LIMITED=$(mktemp)
    trap 'rm -f "$LIMITED"; cleanup' EXIT
  fi
  printf '#!/bin/sh\nexec prlimit --nofile=%d "%s" "$@"\n' "$limit" "$1" >"$LIMITED"
  chmod +x "$LIMITED"
}

# listen_queue: connections waiting in the listener's accept queue (for a
# LISTEN socket, ss shows that queue's length as Recv-Q).
listen_queue() { ss -Hltn "( sport = :$PORT )" | awk '{ n += $2 } END { print n + 0 }'; }

# summarize_results FILE: one line per client result: how many, and when.
summarize_results() {
  awk '{ split($3, r, "="); split($4, a, "="); t = a[2] + 0; k = r[2]; c[k]++
         if (!(k in lo) || t < lo[k]) lo[k] = t; if (t > hi[k]) hi[k] = t }
       END { for (k in c) printf "  %3d x result=%s, after %d to %d ms\n", c[k], k, lo[k], hi[k] }' "$1" | sort -k3
}

# crowd LABEL BINARY [OPTIONS...]: $count silent clients against BINARY, a row
# every 500 ms, `ss -ltn`, then what the clients saw when --hold ran out.
CLIENT_OUT=''
crowd() {
  local label=$1 bin=$2; shift 2
  start_server "$bin" "$@"
  local base; base=$(fd_count)
  start_recording "$label"
  CLIENT_OUT=$(mktemp)
  run_shown "tools/client --port $PORT --mode silent --count $count --hold $hold &"
  "$CLIENT" --port "$PORT" --mode silent --count "$count" --hold "$hold" >"$CLIENT_OUT" &
  local pid=$!
  DEMO_PIDS+=("$pid")
  local r before after q cpu
  before=$(cpu_ms "$SERVER_PID")
  for (( r = 1; r <= 4; r++ )); do
    sleep 0.5
    after=$(cpu_ms "$SERVER_PID"); cpu=$(( (after - before) / 5 )); before=$after
    q=$(listen_queue)
    printf '  t=%4d ms  ESTAB %3d  accepted %3d  in the listen queue %3d %-19s refused %3d  CPU %3d%%\n' \
      $(( r * 500 )) "$(server_count established)" $(( $(fd_count) - base )) "$q" \
      "$(bar $(( q / 8 )) "$([[ $q -gt 0 ]] && echo "$RED")")" \
      "$(grep -c '^refuse' "$SERVER_LOG")" "$cpu"
  done
  run_shown "ss -ltn '( sport = :$PORT )'"
  ss -ltn "( sport = :$PORT )" | sed 's/^/  /'
  stop_recording
  say "The clients stay until --hold ($hold ms) runs out, then say what they saw:"
  wait "$pid" 2>/dev/null
  local p kept=()
  for p in "${DEMO_PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
  DEMO_PIDS=("${kept[@]}")
  summarize_results "$CLIENT_OUT"
  rm -f "$CLIENT_OUT"
}

title "Lesson 11: out of descriptors, and the clients who wait"
say "Every connection costs the server a descriptor, and a process has a limit"
say "(ulimit -n). The kernel completes each client's handshake by itself and queues"
say "it on the listener; accept() only takes it off the queue and gives it a"
say "descriptor. With none free, accept() fails with EMFILE and the client stays queued."

title "1. The starter: lessons/11-out-of-fds/server under prlimit --nofile=$limit, $count clients"
run_shown "prlimit --nofile=$limit lessons/11-out-of-fds/server"
limited "$kit/lessons/11-out-of-fds/server"
crowd "The starter: lessons/11-out-of-fds/server under prlimit --nofile=$limit" "$LIMITED"
say "${RED}No spin (it stops watching the listener on EMFILE, as lesson 10 does), but the${OFF}"
say "${RED}clients that did not fit sat in the listen queue (Recv-Q) the whole time:${OFF}"
say "${RED}connected, with no answer and no EOF. Not one result=closed.${OFF}"
say "(From a client's side, a queued connection and a slow server look the same.)"
stop_server
pause

title "2. The solution: a spare descriptor sheds what does not fit"
say "Open /dev/null at start and keep it. On EMFILE: close the spare, accept() the"
say "waiting client, close() it, open the spare again."
run_shown "prlimit --nofile=$limit solutions/11-out-of-fds/server"
limited "$kit/solutions/11-out-of-fds/server"
crowd "The solution: solutions/11-out-of-fds/server under prlimit --nofile=$limit" "$LIMITED"
run_shown "grep -c 'reason=no-fds' server.log; head -n 2 server.log"
say "  $(grep -c 'reason=no-fds' "$SERVER_LOG")"
head -n 2 "$SERVER_LOG" | sed 's/^/  /'
say "${GREEN}The listen queue stays empty: each client that does not fit reads EOF at once${OFF}"
say "${GREEN}(result=closed) and can go elsewhere; the log says who and why.${OFF}"
stop_server
pause

title "3. --max-conns 50: refuse before the descriptors run out"
start_server "$kit/solutions/11-out-of-fds/server" --max-conns 50
run_shown "solutions/11-out-of-fds/server --max-conns 50     # no prlimit"
run_shown "tools/client --port $PORT --mode silent --count $count --hold 1500"
out=$(mktemp)
"$CLIENT" --port "$PORT" --mode silent --count "$count" --hold 1500 >"$out"
summarize_results "$out"
rm -f "$out"
say "  server log: $(grep -c 'reason=max-conns' "$SERVER_LOG") x refuse ... reason=max-conns, e.g."
grep -m 1 'reason=max-conns' "$SERVER_LOG" | sed 's/^/    /'
say "${GREEN}A limit the server chooses leaves descriptors for its files, logs and the spare.${OFF}"
stop_server

rm -f "$LIMITED"
draw_timeline "Lesson 11: $count silent clients against the reactor under prlimit --nofile=$limit"
say "${DIM}(In the starter's run every lane is ESTAB, queued or not: the kernel finished${OFF}"
say "${DIM}each handshake; only the server's fds, stuck at $limit, tell them apart. In the${OFF}"
say "${DIM}solution's, the shed clients end at once: refuse no-fds, then TIME-WAIT.)${OFF}"

title "Now you: cd lessons/11-out-of-fds, read README.md, fix server.c, make check."
