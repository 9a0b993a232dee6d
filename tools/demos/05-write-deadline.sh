# Lesson 05 demo: the client that never reads, then the fix.
# Five clients send lines as fast as they can and never read the echoes.
# The buffers fill: client Recv-Q, then server Send-Q. The starter's threads
# then sleep in send() for ever; the solution's write deadline closes them.

opts=(--idle-timeout 300 --line-timeout 2000 --write-timeout 500)
readers=5

# queue_kb SIDE FIELD: kB queued on the ESTABLISHED sockets of one side.
queue_kb() {
  local filter="sport"; [[ $1 == client ]] && filter="dport"
  ss -Htan state established "( $filter = :$PORT )" | awk -v f="$2" '{ n += $f } END { print int(n / 1024) }'
}

watch_non_readers() { # BIN LABEL
  local bin=$1 label=$2 started t est
  start_server "$bin" "${opts[@]}"
  start_recording "$label: ${bin#"$kit"/}"
  say "$label listening on 127.0.0.1:$PORT (pid $SERVER_PID) with ${opts[*]}"
  say "$readers clients send 1000-byte lines as fast as they can and never read:"
  "$CLIENT" --port "$PORT" --mode no-read --count $readers --size 1000 --hold 3000 >/dev/null &
  DEMO_PIDS+=($!)
  started=$(( $(date +%s%N) / 1000000 ))
  for t in 200 400 600 800 1200 1600 2000 2400; do
    while (( $(date +%s%N) / 1000000 - started < t )); do sleep 0.02; done
    est=$(server_count established)
    printf '  t=%4d ms  server ESTAB %2d %-6s Send-Q %6d kB   client Recv-Q %5d kB   threads %2d  write-timeout %d\n' \
      "$t" "$est" "$(bar "$est" "$([[ $est -gt 0 ]] && echo "$RED")")" "$(queue_kb server 2)" \
      "$(queue_kb client 1)" "$(thread_count)" "$(grep -c 'reason=write-timeout' "$SERVER_LOG")"
  done
}

title "Lesson 05: the client that never reads"
say "Reads have deadlines (idle and line, lessons 02-04). The echo is written with"
say "write_all(): a blocking send() that waits until the client makes room."
say "We watch the queues with (field 1 is Recv-Q, field 2 Send-Q):"
run_shown "ss -Htan state established '( sport = :PORT )'"

title "1. The starter: lessons/05-write-deadline/server.c"
watch_non_readers "$kit/lessons/05-write-deadline/server" "The starter"
run_shown "ss -tan state established '( sport = :$PORT )' | head -n 3"
ss -tan state established "( sport = :$PORT )" | head -n 3
say "${RED}Echoes fill the clients' receive buffers (their Recv-Q), then the server's send${OFF}"
say "${RED}buffers (Send-Q). Then send() waits for room that never comes: the threads sleep${OFF}"
say "${RED}in the kernel, and a read deadline cannot wake a thread that is not reading.${OFF}"
wait "${DEMO_PIDS[-1]}" 2>/dev/null
stop_server
pause

title "2. The solution: solutions/05-write-deadline/server.c"
watch_non_readers "$kit/solutions/05-write-deadline/server" "The solution"
say "${GREEN}Each echo must be taken within 500 ms: send(MSG_DONTWAIT), and poll(POLLOUT) only${OFF}"
say "${GREEN}until the deadline. Then close: the threads end, the queues are gone.${OFF}"
say "The server's log (stderr), first lines:"
head -n 3 "$SERVER_LOG"
wait "${DEMO_PIDS[-1]}" 2>/dev/null
run_shown "tools/client --port $PORT --mode echo --count 5 --lines 5 --interval 50    # clients that read"
"$CLIENT" --port "$PORT" --mode echo --count 5 --lines 5 --interval 50
stop_server
draw_timeline "Lesson 05: $readers clients that send fast and never read"

title "Now you: cd lessons/05-write-deadline, read README.md, fix server.c, make check."
