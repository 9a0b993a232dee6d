# Lesson 01 demo: the CLOSE_WAIT leak, then the fix.
# Rounds of clients connect, echo a line and close. The starter never calls
# close(), so its CLOSE-WAIT count climbs; the solution's stays at 0.

rounds=5 per_round=10

play_rounds() { # BINARY LABEL
  local bin=$1 label=$2 r cw fw tw
  start_server "$bin"
  start_recording "$label: ${bin#"$kit"/}"
  say "$label listening on 127.0.0.1:$PORT (pid $SERVER_PID), $(fd_count) fds open."
  say "Each round: $per_round clients connect, echo one line, close (FIN)."
  for (( r = 1; r <= rounds; r++ )); do
    "$CLIENT" --port "$PORT" --mode close --count "$per_round" >/dev/null
    sleep 0.1   # a demo, not a test: let the last FINs land before counting
    cw=$(server_count close-wait); fw=$(client_count fin-wait-2); tw=$(client_count time-wait)
    printf '  round %d  server CLOSE-WAIT %3d %-25s client FIN-WAIT-2 %3d  TIME-WAIT %3d  server fds %3d\n' \
      "$r" "$cw" "$(bar $(( cw / 2 )) "$([[ $cw -gt 0 ]] && echo "$RED")")" "$fw" "$tw" "$(fd_count)"
    pause
  done
}

title "Lesson 01: the CLOSE_WAIT leak"
say "A thread-per-connection echo server whose handler returns on EOF without close()."
say "We count sockets with:"
run_shown "ss -Htan state close-wait '( sport = :PORT )' | wc -l"

title "1. The starter: lessons/01-close-wait-leak/server.c"
play_rounds "$kit/lessons/01-close-wait-leak/server" "The starter"
say "${RED}The server got every client's FIN and ACKed it, but never called close():${OFF}"
say "each socket waits in CLOSE-WAIT, holding a file descriptor, forever."
say "The clients' side waits in FIN-WAIT-2 for a FIN that never comes."
run_shown "ss -tan state close-wait '( sport = :$PORT )' | head -n 4"
ss -tan state close-wait "( sport = :$PORT )" | head -n 4
stop_server
pause

title "2. The solution: solutions/01-close-wait-leak/server.c"
play_rounds "$kit/solutions/01-close-wait-leak/server" "The solution"
say "${GREEN}One exit path that always calls close(): CLOSE-WAIT stays at 0, fds stay flat.${OFF}"
say "The clients closed first, so they hold TIME-WAIT (normal, and gone after 60 s)."
stop_server
draw_timeline "Lesson 01: $rounds rounds of $per_round clients that echo a line and close"

title "Now you: cd lessons/01-close-wait-leak, read README.md, fix server.c, make check."
