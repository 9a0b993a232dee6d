# Lesson 04 demo: slowloris, then the fix.
# Twenty clients each trickle one long line, one byte every 100 ms. The
# starter's idle deadline is reset by every byte, so they stay; the
# solution's line deadline closes them. Then one 32 MB line with no end:
# the starter buffers it all, the solution stops at --max-line.

opts=(--idle-timeout 300 --line-timeout 1000 --max-line 100)
tricklers=20

peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null; }
closed_count() { grep -c "reason=$1 " "$SERVER_LOG"; }

watch_tricklers() { # BIN LABEL
  local bin=$1 label=$2 started t est
  start_server "$bin" "${opts[@]}"
  start_recording "$label: ${bin#"$kit"/}"
  say "$label listening on 127.0.0.1:$PORT (pid $SERVER_PID) with ${opts[*]}"
  say "$tricklers clients each send a 1000-byte line, one byte every 100 ms:"
  "$CLIENT" --port "$PORT" --mode slowloris --count $tricklers --interval 100 --size 1000 \
    --hold 3200 >/dev/null &
  DEMO_PIDS+=($!)
  started=$(( $(date +%s%N) / 1000000 ))
  for t in 400 800 1200 1600 2000 2400 2800; do
    while (( $(date +%s%N) / 1000000 - started < t )); do sleep 0.02; done
    est=$(server_count established)
    printf '  t=%4d ms  server ESTAB %3d %-22s threads %3d  closed: timeout %2d  line-timeout %2d\n' \
      "$t" "$est" "$(bar "$est" "$([[ $est -gt 0 ]] && echo "$RED")")" "$(thread_count)" \
      "$(closed_count timeout)" "$(closed_count line-timeout)"
  done
  wait "${DEMO_PIDS[-1]}" 2>/dev/null
}

big_line() { # what the server did with one 32 MB line that has no end
  local before; before=$(peak_rss_kb)
  run_shown "tools/client --port $PORT --mode close --size 33554432    # one 32 MB line"
  "$CLIENT" --port "$PORT" --mode close --size 33554432
  say "server peak memory (VmHWM): $before kB before, $(peak_rss_kb) kB after"
}

title "Lesson 04: slowloris"
say "A line echo server. Each read has an idle deadline of 300 ms, set again before"
say "every read (lessons 02-03). A trickler sends a byte every 100 ms: never idle 300 ms."

title "1. The starter: lessons/04-slowloris/server.c"
watch_tricklers "$kit/lessons/04-slowloris/server" "The starter"
say "${RED}No trickler was closed in 2.8 s, over nine idle timeouts: each byte pushed the deadline back.${OFF}"
say "Each one holds a thread and a socket; enough of them and the server has none left."
pause
big_line
say "${RED}--max-line 100 is ignored: the whole line was buffered and echoed.${OFF}"
stop_server
pause

title "2. The solution: solutions/04-slowloris/server.c"
watch_tricklers "$kit/solutions/04-slowloris/server" "The solution"
say "${GREEN}Each line must be complete 1000 ms after its first byte: that deadline is set once${OFF}"
say "${GREEN}and bytes do not move it. The tricklers are closed, their threads end.${OFF}"
say "The server's log (stderr), first lines:"
grep line-timeout "$SERVER_LOG" | head -n 3
pause
big_line
say "${GREEN}The server held 101 bytes, answered 'ERR line too long' and closed. The client was${OFF}"
say "${GREEN}still sending, so the close reset the connection (lesson 07 is about closing gently).${OFF}"
run_shown "tools/client --port $PORT --mode echo --count 5 --lines 5 --interval 50    # normal clients"
"$CLIENT" --port "$PORT" --mode echo --count 5 --lines 5 --interval 50
stop_server
draw_timeline "Lesson 04: $tricklers tricklers (a byte every 100 ms), one 32 MB line, then 5 normal clients (solution)"

title "Now you: cd lessons/04-slowloris, read README.md, fix server.c, make check."
