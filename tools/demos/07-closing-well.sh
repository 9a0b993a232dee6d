# Lesson 07 demo: three ways a close goes wrong, then the fix.
# (a) close() with unread input sends RST: a client still sending its
#     too-long line gets ECONNRESET, and queued replies are lost;
# (b) a client that half-closes gets no replies;
# (c) the server closed first, holds TIME-WAIT, and cannot restart.

starter="$kit/lessons/07-closing-well/server"
solution="$kit/solutions/07-closing-well/server"
big=16777216

# clients ARGS...: tools/client against $PORT; show the command and its lines.
clients() {
  run_shown "tools/client --port $PORT $*"
  "$CLIENT" --port "$PORT" "$@" | sed 's/^/  /'
}

# restart BINARY: the server again on $PORT, stopped as soon as it listens.
restart() {
  local out; out=$(mktemp)
  run_shown "$(basename "$(dirname "$1")")/server --port $PORT"
  "$1" --port "$PORT" >"$out" 2>&1 &
  local pid=$! i
  for (( i = 0; i < 100; i++ )); do
    grep -q '^listening' "$out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  sed 's/^/  /' "$out"
  rm -f "$out"
}

title "Lesson 07: closing a connection well"

title "(a) close() with input still unread: RST instead of FIN"
for bin in "$starter" "$solution"; do
  start_server "$bin" --max-line 1000
  start_recording "$( [[ $bin == "$starter" ]] && echo "The starter" || echo "The solution"): ${bin#"$kit"/} --max-line 1000"
  say "$( [[ $bin == "$starter" ]] && echo "The starter" || echo "The solution"): a client sends a 16 MB line to a server whose --max-line is 1000."
  clients --mode too-long --size $big --lines 1
  say "The same, after 1999 short lines, with a small receive window (--rcvbuf 4096):"
  clients --mode too-long --size $big --lines 2000 --rcvbuf 4096
  stop_server
  if [[ $bin == "$starter" ]]; then
    say "${RED}result=reset: the client's send() failed with ECONNRESET (sent= shows where).${OFF}"
    say "${RED}It could still read the bytes that had reached it (reply=err: the ERR line), but"
    say "not those still queued on the server: 32894 bytes of replies were due.${OFF}"
    pause
  else
    say "${GREEN}Lingering close: shutdown(SHUT_WR), drain to EOF, close(). Every line sent, every"
    say "reply read (echoed=32894: 1999 echoes and the ERR line), then EOF.${OFF}"
  fi
done
pause

title "(b) a client that half-closes: 50 lines, then shutdown(SHUT_WR)"
for bin in "$starter" "$solution"; do
  start_server "$bin"
  say "$( [[ $bin == "$starter" ]] && echo "The starter:" || echo "The solution:")"
  clients --mode half-close-fin --lines 50 --count 2
  stop_server
done
say "The starter took EOF for 'the client has gone' (${RED}echoed=0${OFF}); the solution answers"
say "every line it has read, then closes (${GREEN}result=ok${OFF})."
pause

title "(c) who closes first holds TIME-WAIT"
for bin in "$starter" "$solution"; do
  start_server "$bin" --idle-timeout 200
  say "$( [[ $bin == "$starter" ]] && echo "The starter" || echo "The solution") closes 3 silent clients at its idle timeout, first:"
  clients --mode silent --count 3 --hold 5000
  run_shown "ss -tan state time-wait '( sport = :$PORT )'"
  ss -tan state time-wait "( sport = :$PORT )" | sed 's/^/  /'
  stop_server
  say "Restart it on the same port:"
  restart "$bin"
done
say "${RED}Without SO_REUSEADDR the port stays taken while TIME-WAIT lasts (60 s).${OFF}"
say "${GREEN}With it (in the old server and the new one) the restart binds at once.${OFF}"

draw_timeline "Lesson 07 (a): a 16 MB line to a server whose --max-line is 1000, once alone, once after 1999 short lines"

title "Now you: cd lessons/07-closing-well, read README.md, fix server.c, make check."
