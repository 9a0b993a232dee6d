# Lesson 06 demo: a client that vanishes (its cable pulled), then the fix.
# Two network namespaces joined by a veth pair (tools/netpair): the server on
# 169.254.6.1, two clients on 169.254.6.2 and one healthy client on the
# server's own host. One far client has a reply in flight when the cable is
# pulled, the other is idle. The starter keeps both for ever (one with the
# retransmit timer running); the solution gives up on them in seconds.

netpair="$kit/tools/netpair"
srv_addr=169.254.6.1
net="demo06-$$"

if ! why=$("$netpair" check 2>&1); then
  title "Lesson 06: the peer that vanished"
  say "This demo needs network namespaces: $why"
  say "Run it as root: sudo make demo LESSON=06"
  exit 0
fi

cleanup_net() { "$netpair" down "$net"; }
trap 'cleanup; cleanup_net' EXIT

# serve BINARY OPTIONS...: the server on the server's host; sets PORT, SERVER_PID.
serve() {
  local bin=$1; shift
  SERVER_WRAPPER="$netpair srv $net" start_server "$bin" --host "$srv_addr" "$@"
}

# client_on HOST ARGS...: a tools/client on the server's (srv) or the client's (cli) host.
client_on() {
  local host=$1; shift
  "$netpair" "$host" "$net" "$CLIENT" --host "$srv_addr" --port "$PORT" "$@" >/dev/null 2>&1 &
  DEMO_PIDS+=("$!")
}

# show_sockets: the server's connections, as ss -tno sees them on its host.
show_sockets() {
  "$netpair" srv "$net" ss -Htno state established "( sport = :$PORT )" |
    awk -v near="$srv_addr" '{ who = ($4 ~ "^" near ":") ? "healthy  " : "far      "
           t = ""; for (i = 5; i <= NF; i++) t = t " " $i
           printf "    %s Send-Q %3d %s\n", who, $2, (t == "" ? " (no timer)" : t) }'
}

# watch_sockets SECONDS: the server's sockets once a second, with the clock.
watch_sockets() {
  local s
  for (( s = 1; s <= $1; s++ )); do
    sleep 1
    printf '  %2d s after the cut:\n' "$s"
    show_sockets
    grep -h '^close ' "$SERVER_LOG" | sed 's/^/    log: /'
  done
}

# act_out LABEL BINARY OPTIONS...: one round: three clients, deafen, cut, watch.
act_out() {
  local label=$1; shift
  "$netpair" up "$net" || exit 1
  serve "$@"
  # The recorder runs on the server's host: it sees the server's sockets and
  # the healthy client's; the far clients' own ends are in the other namespace.
  start_recording "$label" "$netpair" srv "$net"
  client_on srv --mode silent --hold 60000                                  # healthy, quiet
  client_on cli --mode silent --hold 60000                                  # far, idle
  client_on cli --mode echo --lines 10000 --interval 200 --hold 60000       # far, chatty
  sleep 0.5
  say "Connected: a healthy quiet client (server's host), an idle far client, a chatty far client."
  show_sockets
  pause
  run_shown "tools/netpair deafen $net   # the chatty client's next echo will never be ACKed"
  "$netpair" deafen "$net"
  sleep 0.4
  run_shown "tools/netpair cut $net      # pull the far clients' cable: no FIN, no RST"
  "$netpair" cut "$net"
}

title "Lesson 06: the peer that vanished"
say "A killed client still sends FIN (its kernel closes its sockets). A host that loses"
say "power, or a cable pulled, sends nothing at all. Here the far clients' cable is pulled"
say "(their veth link goes down) while the server runs with --idle-timeout 0: clients may"
say "be quiet for as long as they like, as on a chat or push service."

title "1. The starter: lessons/06-dead-peer/server.c --idle-timeout 0"
act_out "The starter: lessons/06-dead-peer/server --idle-timeout 0" \
  "$kit/lessons/06-dead-peer/server" --idle-timeout 0
watch_sockets 5
say "${RED}The idle far connection: no timer at all. Nothing will ever notice it is dead.${OFF}"
say "${RED}The chatty one: timer:(on,TIME,RETRANSMITS) climbs; the kernel retries for about"
say "15 minutes (tcp_retries2 = $(cat /proc/sys/net/ipv4/tcp_retries2), a time budget) before it gives up.${OFF}"
cleanup
cleanup_net
pause

title "2. The solution: --user-timeout 1000 --keepalive 1000"
act_out "The solution: solutions/06-dead-peer/server --idle-timeout 0 --user-timeout 1000 --keepalive 1000" \
  "$kit/solutions/06-dead-peer/server" --idle-timeout 0 --user-timeout 1000 --keepalive 1000
watch_sockets 5
say "${GREEN}TCP_USER_TIMEOUT: the unacknowledged echo is given up about 1.4 s after it was sent:"
say "1 s after its first retransmission, which came 0.4 s after the send.${OFF}"
say "${GREEN}Keepalive: after 1 s of silence a probe goes out, unanswered. With --keepalive alone"
say "the kernel would send 3 probes, 1 s apart, and give up after 4 s; with TCP_USER_TIMEOUT"
say "set too, that timeout also ends the probing: gone at the next tick, after 2 s.${OFF}"
say "${GREEN}The healthy quiet client answers every probe (timer:(keepalive,...)) and stays.${OFF}"

draw_timeline "Lesson 06: two far clients' cable pulled, one near client (recorded on the server's host)"

title "Now you: cd lessons/06-dead-peer, read README.md, fix server.c, sudo make check."
