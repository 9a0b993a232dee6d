# Lesson 02 demo: the stuck read, then the fix.
# Silent clients connect and say nothing. The starter has no read deadline,
# so each one keeps an ESTABLISHED socket and a thread until the client itself
# gives up; the solution hangs up on them after --idle-timeout, while a
# chatty client that talks more often than that is never cut.

idle=500 silent=20 hold=4000

# summarize_results FILE: one line per client result: how many, and when.
summarize_results() {
  awk '{ split($3, r, "="); split($4, a, "="); t = a[2] + 0; n[r[2]]++
         if (!(r[2] in lo) || t < lo[r[2]]) lo[r[2]] = t; if (t > hi[r[2]]) hi[r[2]] = t }
       END { for (k in n) printf "  %d x result=%s, after %d to %d ms\n", n[k], k, lo[k], hi[k] }' "$1"
}

# watch_silent_clients BINARY LABEL: silent clients against BINARY, counted
# every half second.
watch_silent_clients() {
  local bin=$1 label=$2 out t est
  start_server "$bin" --idle-timeout "$idle"
  start_recording "$label: ${bin#"$kit"/} --idle-timeout $idle"
  local threads0 fds0; threads0=$(thread_count); fds0=$(fd_count)
  say "$label listening on 127.0.0.1:$PORT with --idle-timeout $idle (pid $SERVER_PID)."
  say "Before any client: threads $threads0, fds $fds0."
  run_shown "tools/client --port $PORT --mode silent --count $silent --hold $hold &"
  out=$(mktemp)
  "$CLIENT" --port "$PORT" --mode silent --count "$silent" --hold "$hold" >"$out" &
  local client=$!
  DEMO_PIDS+=("$client")
  sleep 0.25
  for t in 0.25 0.75 1.25 1.75 2.25 2.75 3.25; do
    [[ $t == 0.25 ]] || sleep 0.5   # a demo, not a test: sample every half second
    est=$(server_count established)
    printf '  t=%ss  server ESTAB %3d %-12s threads %3d  fds %3d\n' "$t" "$est" \
      "$(bar $(( est / 2 )) "$([[ $est -gt 0 ]] && echo "$RED")")" "$(thread_count)" "$(fd_count)"
  done
  wait "$client"
  stop_recording
  say "The clients' own verdicts (they give up after $hold ms):"
  summarize_results "$out"
  rm -f "$out"
}

title "Lesson 02: the stuck read"
say "A thread-per-connection echo server. Clients connect and then say nothing."
say "With no read deadline, read() waits as long as they do: forever, if their host is gone."

title "1. The starter: lessons/02-stuck-read/server.c (parses --idle-timeout, never uses it)"
watch_silent_clients "$kit/lessons/02-stuck-read/server" "The starter"
say "${RED}$silent threads sat in read() the whole time; only the clients giving up freed them.${OFF}"
say "The server log, last lines (eof: the CLIENTS hung up, not the server):"
tail -n 3 "$SERVER_LOG" | sed 's/^/  /'
stop_server
pause

title "2. The solution: solutions/02-stuck-read/server.c (SO_RCVTIMEO = --idle-timeout)"
watch_silent_clients "$kit/solutions/02-stuck-read/server" "The solution"
say "${GREEN}After $idle ms of silence read() returns EAGAIN: the server closes, the thread ends.${OFF}"
say "The server log, last lines:"
tail -n 3 "$SERVER_LOG" | sed 's/^/  /'
pause

say ""
say "A chatty client (a line every 100 ms, for 2 s) against the same server:"
run_shown "tools/client --port $PORT --mode echo --lines 20 --interval 100"
"$CLIENT" --port "$PORT" --mode echo --lines 20 --interval 100 | sed 's/^/  /'
say "${GREEN}The timeout is for silence, per read(): a client that keeps talking is never cut.${OFF}"
tail -n 1 "$SERVER_LOG" | sed 's/^/  /'
stop_server
draw_timeline "Lesson 02: $silent silent clients that give up after $hold ms"

title "Now you: cd lessons/02-stuck-read, read README.md, fix server.c, make check."
