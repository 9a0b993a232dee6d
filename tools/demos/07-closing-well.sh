# Lesson 07 demo: two ways a close goes wrong, then the fix.
# (a) close() with unread input sends RST: a client still sending its
#     too-long line gets ECONNRESET, and queued replies are lost;
# (b) a client that half-closes gets no replies.
# (TIME-WAIT and the restart are lesson 08's demo.)

starter="$kit/lessons/07-closing-well/server"
solution="$kit/solutions/07-closing-well/server"
big=16777216

# clients ARGS...: tools/client against $PORT; show the command and its lines.
clients() {
  run_shown "tools/client --port $PORT $*"
  "$CLIENT" --port "$PORT" "$@" | sed 's/^/  /'
}

title "Lesson 07: closing a connection well"
say "Two ways a close goes wrong: (a) RST instead of FIN, (b) EOF taken for a client gone."

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

draw_timeline "Lesson 07 (a): a 16 MB line to a server whose --max-line is 1000, once alone, once after 1999 short lines"

title "Now you: cd lessons/07-closing-well, read README.md, fix server.c, make check."
