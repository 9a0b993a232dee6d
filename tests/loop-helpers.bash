# loop-helpers.bash - extra helpers for the event-loop lessons (08, 09),
# loaded after helpers.bash.

# cpu_ms PID: CPU time (user + system) the process has used, in ms,
# from fields 14 and 15 of /proc/PID/stat (clock ticks).
cpu_ms() {
  local ticks hz
  hz=$(getconf CLK_TCK)
  ticks=$(awk '{print $14 + $15}' "/proc/$1/stat")
  echo $(( ticks * 1000 / hz ))
}

# cpu_over MS PID: CPU ms the process used during the next MS ms of wall time.
# (Measuring over a window is the point: it is not an assertion after a sleep.)
cpu_over() {
  local before after
  before=$(cpu_ms "$2")
  sleep "$(awk "BEGIN {print $1 / 1000}")"
  after=$(cpu_ms "$2")
  echo $(( after - before ))
}

# runnable_samples PID N: in N samples 50 ms apart, how often the process was
# in state R (running, or ready and waiting for a CPU). A busy loop is R in
# nearly every sample even when other work crowds the CPUs; a loop asleep in
# epoll_wait()/poll() is S.
runnable_samples() {
  local i n=0
  for (( i = 0; i < $2; i++ )); do
    [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == R ]] && n=$(( n + 1 ))
    sleep 0.05
  done
  echo "$n"
}
