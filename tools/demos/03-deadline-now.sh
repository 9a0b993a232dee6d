# Lesson 03 demo: a read deadline of "now", then now + d.
# Healthy clients that send a line every 100 ms meet a server whose deadline
# is already over when it reads: they are cut at once. The solution sets the
# deadline to now + --idle-timeout before each read: the same clients finish,
# and only a silent client is closed, at its deadline.

idle=1000 n=5

# summarize_results FILE: one line per client result: how many, and when.
summarize_results() {
  awk '{ split($3, r, "="); split($4, a, "="); t = a[2] + 0; k = r[2]; c[k]++
         if (!(k in lo) || t < lo[k]) lo[k] = t; if (t > hi[k]) hi[k] = t }
       END { for (k in c) printf "  %d x result=%s, after %d to %d ms\n", c[k], k, lo[k], hi[k] }' "$1"
}

# clients ARGS...: run tools/client against $PORT, show the command and
# a summary of the results.
clients() {
  local out; out=$(mktemp)
  run_shown "tools/client --port $PORT $*"
  "$CLIENT" --port "$PORT" "$@" >"$out"
  summarize_results "$out"
  rm -f "$out"
}

title "Lesson 03: a deadline of now"
say "Go:  conn.SetReadDeadline(time.Now())           -> every Read times out at once"
say "C:   read_by(fd, buf, len, now_ms())            -> the same bug, in this lesson's API"
say "Fix: read_by(fd, buf, len, deadline_in(idle))   -> deadline = now + idle, before each read"

title "1. The starter: lessons/03-deadline-now/server.c, --idle-timeout $idle"
start_server "$kit/lessons/03-deadline-now/server" --idle-timeout "$idle"
start_recording "The starter: lessons/03-deadline-now/server --idle-timeout $idle"
say "$n healthy clients, each sending 5 lines 100 ms apart:"
clients --mode echo --count "$n" --lines 5 --interval 100
say "${RED}Cut within milliseconds, with a $idle ms idle timeout.${OFF} The server log:"
tail -n 2 "$SERVER_LOG" | sed 's/^/  /'
say "reason=timeout after=0ms: the deadline was over before the first read began."
say "(result=reset: the server closed with the client's first line unread, so Linux"
say " sent RST instead of FIN; result=closed: the line had not arrived yet. Lesson 07"
say " is about closing well.)"
stop_server
pause

title "2. The solution: solutions/03-deadline-now/server.c, --idle-timeout $idle"
start_server "$kit/solutions/03-deadline-now/server" --idle-timeout "$idle"
start_recording "The solution: solutions/03-deadline-now/server --idle-timeout $idle"
say "The same $n healthy clients:"
clients --mode echo --count "$n" --lines 5 --interval 100
say "${GREEN}Each read gets its own deadline, now + $idle ms: a client that talks is never cut.${OFF}"
pause
say "$n silent clients:"
clients --mode silent --count "$n" --hold 5000
say "${GREEN}A client that says nothing meets its deadline, $idle ms after its last read began.${OFF}"
tail -n 2 "$SERVER_LOG" | sed 's/^/  /'
stop_server
pause

draw_timeline "Lesson 03: $n healthy clients (5 lines, 100 ms apart); then, for the solution, $n silent ones"

title "The C traps beside it (README.md has the details)"
say "  SO_RCVTIMEO of 0 means NO timeout: the opposite of Go's deadline in the past."
say "  struct timeval is seconds + MICROseconds; tv_usec must stay below 1000000."
say "  After EINTR, wait deadline - now, not the whole timeout again."
say "  Take deadlines from CLOCK_MONOTONIC: the wall clock jumps when it is set."

title "Now you: cd lessons/03-deadline-now, read README.md, fix server.c, make check."
