# Lesson 08 demo: who closes first holds TIME-WAIT, and what that does to a
# restart on the same port.
# 1. Clients that close first: TIME-WAIT on the clients' side; the starter
#    restarts on its port at once.
# 2. A server that closes first (its idle timeout): TIME-WAIT on the server's
#    side; the starter's restart fails with EADDRINUSE (no SO_REUSEADDR), the
#    solution's binds and serves.

starter="$kit/lessons/08-time-wait/server"
solution="$kit/solutions/08-time-wait/server"
idle=200 count=3

# clients ARGS...: tools/client against $PORT; show the command and its lines.
clients() {
  run_shown "tools/client --port $PORT $*"
  "$CLIENT" --port "$PORT" "$@" | sed 's/^/  /'
}

# time_wait SIDE: the TIME-WAIT sockets on one side of $PORT, as ss shows them
# (server: sport = :PORT; client: dport = :PORT).
time_wait() {
  local filter="( sport = :$PORT )"
  [[ $1 == client ]] && filter="( dport = :$PORT )"
  run_shown "ss -tan state time-wait '$filter'"
  ss -tan state time-wait "$filter" | sed 's/^/  /'
}

# restart BINARY: the server again on $PORT, as a deploy would start it. It
# prints its first line ("listening on ..." or why not). Sets RESTARTED_PID
# while it runs (stop it with halt), '' if it could not listen.
restart() {
  local out; out=$(mktemp)
  run_shown "${1#"$kit"/} --port $PORT"
  ( close_inherited_fds; exec "$1" --port "$PORT" ) >"$out" 2>&1 &
  local pid=$! i
  DEMO_PIDS+=("$pid")
  for (( i = 0; i < 250; i++ )); do
    grep -q '^listening' "$out" && break
    process_gone "$pid" && break
    sleep 0.02
  done
  sed 's/^/  /' "$out"
  rm -f "$out"
  RESTARTED_PID=$pid
  if process_gone "$pid"; then
    wait "$pid" 2>/dev/null
    RESTARTED_PID=''
  fi
}

# old_server_gone: stop the first server (a deploy, a crash) but keep the
# recorder on its port, so the picture shows the restart too.
old_server_gone() {
  run_shown "kill $SERVER_PID   # the old server goes"
  halt "$SERVER_PID" 10000
}

title "Lesson 08: TIME-WAIT, and a server that cannot restart"
say "The side that sends the first FIN keeps the connection in TIME-WAIT for 60 s"
say "(TCP_TIMEWAIT_LEN in Linux): late segments of it cannot be taken for a new one's."

title "1. The clients close first"
start_server "$starter"
start_recording "The starter: $count clients echo a line and close first"
say "The starter; $count clients echo a line, then close (their FIN first):"
clients --mode close --count $count
sleep 0.3
say "The clients' side:"
time_wait client
say "The server's side:"
time_wait server
stop_server
say "${GREEN}TIME-WAIT is on the clients' side; the server's side is gone. Restart it on the same port:${OFF}"
restart "$starter"
[[ -n $RESTARTED_PID ]] && halt "$RESTARTED_PID" 10000
say "${GREEN}The port is free: the starter binds it, SO_REUSEADDR or not.${OFF}"
pause

title "2. The server closes first, at its idle timeout"
for bin in "$starter" "$solution"; do
  who=$( [[ $bin == "$starter" ]] && echo "The starter" || echo "The solution")
  start_server "$bin" --idle-timeout $idle
  start_recording "$who: --idle-timeout $idle closes $count silent clients first; then a restart on its port"
  say "$who closes $count silent clients at its idle timeout ($idle ms), first:"
  clients --mode silent --count $count --hold 5000
  sleep 0.3
  time_wait server
  old_server_gone
  say "Restart it on the same port, while those connections sit in TIME-WAIT:"
  restart "$bin"
  if [[ -n $RESTARTED_PID ]]; then
    say "The new listener serves, beside the old connections' TIME-WAIT:"
    clients --mode close
    sleep 0.3
    stop_recording
    halt "$RESTARTED_PID" 10000
  else
    sleep 0.3
    stop_recording
  fi
  rm -f "$SERVER_LOG"
  if [[ $bin == "$starter" ]]; then
    say "${RED}Address already in use: without SO_REUSEADDR, bind() refuses the port while"
    say "the old connections sit in TIME-WAIT, for up to 60 s. A deploy, or a crash, and the"
    say "server cannot come back.${OFF}"
    pause
  else
    say "${GREEN}SO_REUSEADDR on the listener, before bind(): the new server shares the port with"
    say "the old TIME-WAIT connections (never with a live listener). Both lives of the"
    say "server need it: a TIME-WAIT socket keeps the flag of the server that made it.${OFF}"
  fi
done

draw_timeline "Lesson 08: who closes first holds TIME-WAIT, and a restart on the same port"

title "Now you: cd lessons/08-time-wait, read README.md, fix server.c, make check."
