#!/usr/bin/env bats
# The kit checks itself: every lesson is complete, numbering has no gaps,
# README links resolve, and every server keeps the server contract.

load helpers

lessons() { ls -d "$KIT"/lessons/[0-9][0-9]-* | xargs -n1 basename; }

@test "kit: every lesson has README.md, Makefile, server.c, hints, a solution with NOTES.md, a test file, a demo" {
  local missing=() l
  for l in $(lessons); do
    for f in lessons/$l/README.md lessons/$l/Makefile lessons/$l/server.c \
             lessons/$l/hints/1.md lessons/$l/hints/2.md \
             solutions/$l/server.c solutions/$l/NOTES.md tests/$l.bats tools/demos/$l.sh; do
      [[ -f $KIT/$f ]] || missing+=("$f")
    done
  done
  (( ${#missing[@]} == 0 )) || fail "missing: ${missing[*]}"
}

@test "kit: lessons are numbered 01, 02, ... with no gap, and every solution and test belongs to a lesson" {
  local n=1 l
  for l in $(lessons); do
    [[ ${l%%-*} == $(printf '%02d' $n) ]] || fail "expected lesson $(printf '%02d' $n), found $l"
    n=$(( n + 1 ))
  done
  for l in $(ls "$KIT/solutions"); do
    [[ -d $KIT/lessons/$l ]] || fail "solutions/$l has no lesson"
  done
  for l in $(cd "$KIT/tests" && ls [0-9][0-9]-*.bats); do
    [[ -d $KIT/lessons/${l%.bats} ]] || fail "tests/$l has no lesson"
  done
}

# The rules every lesson keeps (tools/stats measures them; make stats shows them).
# rule 1: one idea, one bug: the code diff from starter to solution (comments
# and blank lines left out) is at most 40 lines.
@test "kit: rule 1: each lesson's code diff from starter to solution is at most 40 lines" {
  local l n t h
  while read -r l n t h; do
    [[ $l == lesson ]] && continue
    (( n <= 40 )) ||
      fail "lesson $l: the code diff from starter to solution is $n lines (at most 40): one idea, one bug; move finished code to lib/, or split the lesson"
  done < <("$KIT/tools/stats")
}

# rule 2: the task is on the first screen of the starter's server.c.
@test "kit: rule 2: each starter's first TODO(student) is within the first 60 lines of server.c" {
  local l n t h seen=0
  while read -r l n t h; do
    [[ $l == lesson ]] && continue
    seen=$(( seen + 1 ))
    [[ $t =~ ^[0-9]+$ ]] && (( t <= 60 )) ||
      fail "lesson $l: the first TODO(student) of lessons/$l/server.c is at line $t: a student should see the task on the first screen"
  done < <("$KIT/tools/stats")
  (( seen >= 9 )) || fail "tools/stats listed $seen lessons"
}

# rule 4: a solution is its starter plus the fix: the same header, with the
# THE BUG / TODO part become one "Solved:" line, so make compare shows the idea.
@test "kit: rule 4: each solution keeps its starter's header; THE BUG and TODO become one Solved: line" {
  local l n t h
  while read -r l n t h; do
    [[ $l == lesson ]] && continue
    [[ $h == kept ]] ||
      fail "lesson $l: solutions/$l/server.c's header should be lessons/$l/server.c's, up to its THE BUG line, then one ' * Solved: ...' line (at most 100 columns) and ' */'; the explanation belongs in solutions/$l/NOTES.md"
  done < <("$KIT/tools/stats")
}

# rule 5: what a lesson finished lives in lib/ for the lessons after it,
# under the same name and signature, and nowhere else: lib's copy is the
# solution's function (comments aside), and no later server has its own.
@test "kit: rule 5: lib/NAME.c is lesson NN's NAME(), and no later lesson copies it" {
  local pair lesson name later
  code_of() {  # FILE NAME: NAME's definition, comments and blank lines left out
    gcc -fpreprocessed -dD -E -P "$1" 2>/dev/null |
      awk -v f="$2" '$0 ~ "^[a-z].*[ *]" f "[(]" && !/;$/ { on = 1 } on { print } on && /^}/ { exit }' |
      sed 's/[[:space:]]*$//' | grep -v '^$'
  }
  for pair in 04-slowloris:read_line 05-write-deadline:write_by 06-dead-peer:set_dead_peer_options \
              07-closing-well:close_gracefully 08-time-wait:reuse_address; do
    lesson=${pair%%:*} name=${pair#*:}
    [[ -n $(code_of "$KIT/lib/$name.c" "$name") ]] || fail "lib/$name.c has no $name()"
    diff <(code_of "$KIT/solutions/$lesson/server.c" "$name") <(code_of "$KIT/lib/$name.c" "$name") >/dev/null ||
      fail "lib/$name.c's $name() is not solutions/$lesson/server.c's: the lessons after $lesson must get the function the student wrote there (diff them, comments aside)"
    for later in "$KIT"/lessons/* "$KIT"/solutions/*; do
      [[ $(basename "$later") > $lesson ]] || continue
      ! grep -qE "^[a-z].*[ *]$name[(]" "$later/server.c" ||
        fail "$later/server.c defines its own $name(): after lesson $lesson it comes from lib/$name.c (one copy, so a fix lands everywhere)"
    done
  done
}

@test "kit: every relative link in every README resolves" {
  local md link target broken=()
  while IFS= read -r md; do
    while IFS= read -r link; do
      link=${link%%#*}
      [[ -z $link || $link == *://* || $link == mailto:* ]] && continue
      target="$(dirname "$md")/$link"
      # a slide diagram that make slides draws from its source (slides/diagrams/NAME.seq, .tl, .mjs) counts
      [[ $target == *.svg ]] && [[ -e ${target%.svg}.seq || -e ${target%.svg}.tl || -e ${target%.svg}.mjs ]] && continue
      [[ -e $target ]] || broken+=("${md#$KIT/} -> $link")
    done < <(grep -oE '\]\([^)]+\)' "$md" | sed -E 's/^\]\((.*)\)$/\1/')
  done < <(find "$KIT" -name '*.md' -not -path '*/node_modules/*' -not -path '*/.git/*')
  (( ${#broken[@]} == 0 )) || fail "broken links: ${broken[*]}"
}

@test "kit: lesson 11's README shows the bench table of lessons/11-out-of-fds/bench.txt, as measured" {
  # README table == bench.txt table (a real tools/bench run, committed) -> no figure typed or edited by hand
  local results="$KIT/lessons/11-out-of-fds/bench.txt" readme="$KIT/lessons/11-out-of-fds/README.md"
  grep -q '^bench: ' "$results" || fail "lessons/11-out-of-fds/bench.txt has no 'bench:' header: copy bench/out/bench.txt from a make bench run"
  local measured shown
  measured=$(sed -n '/^measurement /,$p' "$results" | sed 's/ *$//')
  shown=$(sed -n '/^measurement /,/^```/p' "$readme" | sed '$d')
  [[ -n $measured ]] || fail "lessons/11-out-of-fds/bench.txt has no table"
  [[ $shown == "$measured" ]] ||
    fail "lesson 11's README table differs from lessons/11-out-of-fds/bench.txt: paste the table from that run (trailing spaces dropped)"$'\n'"$(diff <(echo "$measured") <(echo "$shown") | head -20)"
}

@test "kit: every server names a bad option and exits 2" {
  local bin
  for bin in "$KIT"/lessons/*/server "$KIT"/solutions/*/server; do
    run "$bin" --bogus
    (( status == 2 )) || fail "$bin --bogus exited $status, expected 2"
    [[ $output == *--bogus* ]] || fail "$bin --bogus did not name the option: $output"
    run "$bin" --port nope
    (( status == 2 )) || fail "$bin --port nope exited $status, expected 2"
    [[ $output == *--port* ]] || fail "$bin --port nope did not name the option: $output"
  done
}

@test "kit: every server prints its ready line with the real port, echoes, and exits 0 on SIGTERM" {
  # connect -> echo one line -> SIGTERM -> exit 0
  local bin
  for bin in "$KIT"/lessons/*/server "$KIT"/solutions/*/server; do
    SERVER=$bin start_server
    [[ $(cat "$SERVER_OUT") =~ ^listening\ on\ 127\.0\.0\.1:[0-9]+$ ]] || fail "$bin: bad ready line: $(cat "$SERVER_OUT")"
    (( PORT > 0 )) || fail "$bin: port 0 in the ready line"
    run_client --mode close
    expect_results ok -eq 1 "$bin should echo a line"
    stop_server
  done
}

@test "kit: every server after lesson 06's starter honours --user-timeout and --keepalive (ss -o shows the keepalive timer)" {
  # --keepalive 7000 -> SO_KEEPALIVE on each accepted socket -> ss -o: timer:(keepalive,...)
  local bin
  for bin in "$KIT"/solutions/0[6-9]-*/server "$KIT"/lessons/0[7-9]-*/server; do
    SERVER=$bin start_server --user-timeout 5000 --keepalive 7000
    start_client --mode silent --hold 5000
    expect_server_state established -eq 1 "$bin: a silent client should connect"
    wait_until 3000 server_keepalive_timers ||
      fail "$bin --keepalive 7000: ss -o shows no keepalive timer on the server's socket: $(ss -Htno state established "( sport = :$PORT )")"
    kill_client
    stop_server
  done
}

@test "kit: tools/client, tools/loadgen and tools/sswatch name a bad option or value and exit 2" {
  local tool
  for tool in "$CLIENT --port 1 --mode bogus" "$KIT/tools/loadgen --port 1 --mode bogus" \
              "$KIT/tools/sswatch bogus" "$KIT/tools/sswatch 1 bogus"; do
    run $tool
    (( status == 2 )) || fail "'$tool' exited $status, not 2: $output"
    [[ $output == *bogus* ]] || fail "'$tool' did not name the bad value: $output"
  done
  for tool in "$CLIENT --port 1 --bogus" "$KIT/tools/loadgen --port 1 --bogus"; do
    run $tool
    (( status == 2 )) || fail "'$tool' exited $status, not 2: $output"
    [[ $output == *"unknown option '--bogus'"* ]] || fail "'$tool' did not say --bogus is unknown: $output"
  done
}

@test "kit: tools/sswatch --bars draws a row per state, each side's count now, and the listener's fds" {
  # 3 clients close -> server CLOSE-WAIT 3, client FIN-WAIT-2 3 -> the live view's rows say so
  SERVER=$KIT/lessons/01-close-wait-leak/server start_server
  run_client --mode close --count 3
  expect_server_state close-wait -eq 3 "the starter leaks each connection"
  expect_client_state fin-wait-2 -eq 3 "each client waits for the server's FIN"
  COLUMNS=100 SSWATCH_FRAMES=2 run "$KIT/tools/sswatch" --bars "$PORT" 0.05
  (( status == 0 )) || fail "sswatch --bars exited $status: $output"
  local frame; frame=$(awk '/^--$/ { n++; next } n == 1' <<<"$output")   # the second frame
  local state
  for state in ESTAB SYN-RECV CLOSE-WAIT LAST-ACK FIN-WAIT-1 FIN-WAIT-2 CLOSING TIME-WAIT; do
    grep -q "^$state " <<<"$frame" || fail "no row for $state in the frame:
$frame"
  done
  grep -Eq '^CLOSE-WAIT +3 .*█ +0( |$)' <<<"$frame" ||
    fail "the CLOSE-WAIT row should read 3 on the server side (a full bar: the highest count) and 0 on the client side:
$frame"
  grep -Eq '^FIN-WAIT-2 +0 .* 3 .*█' <<<"$frame" ||
    fail "the FIN-WAIT-2 row should read 0 on the server side and 3 on the client side:
$frame"
  grep -Eq "^server fds +$(fd_count) " <<<"$frame" || fail "the fds row should give the listener's $(fd_count) fds:
$frame"
}

@test "kit: a demo (lesson 01, no pauses) records the bug and the fix and ends with the path of one picture of both" {
  # starter: lanes ESTAB -> CLOSE-WAIT (red, to the end); solution: lanes gone, clients TIME-WAIT; one SVG, both runs
  local out="$BATS_TEST_TMPDIR/demo"
  DEMO_PAUSE=0 DEMO_OUT=$out run "$KIT/tools/demo" 01 3>&-
  (( status == 0 )) || fail "tools/demo 01 exited $status: $output"
  local svg="$out/01-close-wait-leak.svg"
  [[ $output == *"$svg"* ]] || fail "the demo should print the path of its picture ($svg):
$(tail -n 8 <<<"$output")"
  [[ -s $svg ]] || fail "the demo printed $svg but did not write it"
  ! pgrep -f -- "--out $out/" >/dev/null || fail "a recorder is still running after the demo: $(pgrep -af -- "--out $out/")"
  (( $(grep -c '<g class="panel">' "$svg") == 2 )) || fail "the picture should have two runs, the bug above the fix"
  (( $(grep -c '<g class="lane"' "$svg") >= 20 )) ||
    fail "the picture should draw a lane per connection (25 a side at most, per run), not $(grep -c '<g class="lane"' "$svg")"
  local bug fix
  bug=$(awk '/<g class="panel">/ { p++ } p == 1' "$svg")
  fix=$(awk '/<g class="panel">/ { p++ } p == 2' "$svg")
  grep -q 'fill="#e53935"' <<<"$bug" || fail "the starter's lanes should turn CLOSE-WAIT red"
  grep -q 'fill="#9e9e9e"' <<<"$fix" || fail "the solution's client lanes should be TIME-WAIT grey"
}

@test "kit: make doctor says ok for each need here, and exits 0" {
  run make -s -C "$KIT" doctor
  assert_success
  assert_output --partial "ok       ss"
  assert_output --partial "ok       bats "
  assert_output --partial "Ready:"
}

@test "kit: make doctor names a missing tool, the command that installs it, and exits 1" {
  # A PATH with every command but ss and bats: the machine of a student who
  # has not installed them yet.
  local bin="$BATS_TEST_TMPDIR/bin" dir
  mkdir -p "$bin"
  for dir in /bin /usr/bin /usr/local/bin; do   # a later one wins, as in PATH order
    [[ -d $dir ]] && ln -sf "$dir"/* "$bin"/ 2>/dev/null
  done
  rm -f "$bin/ss" "$bin/bats"
  PATH="$bin" run "$KIT/tools/doctor"
  assert_failure 1
  assert_output --regexp "MISSING +ss +fix: (sudo )?apt-get install -y iproute2"
  assert_output --regexp "MISSING +bats +fix: (sudo )?apt-get install -y bats"
  assert_output --partial "every lesson: make check there needs ss, bats"
}

@test "kit: tools/packages is the one package list: tools/need installs from it and the devcontainer installs all of it" {
  local pkg
  grep -q 'tools/packages' "$KIT/tools/need" || fail "tools/need does not read tools/packages"
  [[ -f $KIT/.devcontainer/Dockerfile ]] || fail "no .devcontainer/Dockerfile"
  grep -q 'tools/packages' "$KIT/.devcontainer/Dockerfile" ||
    fail "the Dockerfile does not install from tools/packages: two lists would drift"
  run "$KIT/.devcontainer/packages-from" "$KIT/tools/packages"
  assert_success
  for pkg in $(awk '$1 !~ /^#/ && NF >= 3 { print $1 }' "$KIT/tools/packages"); do
    [[ " $(echo $output) " == *" $pkg "* ]] || fail "the devcontainer would not install $pkg (tools/packages lists it)"
  done
}

# bats test_tags=slow
@test "kit: make grade grades a folder of clones without touching them: all fixed, half fixed, does not compile" {
  # Three fake students, lessons 01 and 03: alice has both solutions, bob
  # fixed 01 only, carol's 01 does not compile. Their clones must not change.
  local s l students="$BATS_TEST_TMPDIR/students" out="$BATS_TEST_TMPDIR/grade-out"
  for s in alice bob carol; do
    for l in 01-close-wait-leak 03-deadline-now; do
      mkdir -p "$students/$s/lessons/$l"
      cp "$KIT/lessons/$l/server.c" "$students/$s/lessons/$l/"
    done
  done
  cp "$KIT/solutions/01-close-wait-leak/server.c" "$students/alice/lessons/01-close-wait-leak/"
  cp "$KIT/solutions/03-deadline-now/server.c" "$students/alice/lessons/03-deadline-now/"
  cp "$KIT/solutions/01-close-wait-leak/server.c" "$students/bob/lessons/01-close-wait-leak/"
  echo 'this is not C' >>"$students/carol/lessons/01-close-wait-leak/server.c"
  local before; before=$(cd "$students" && find . -type f | sort | xargs md5sum)
  run make -s -C "$KIT" grade STUDENTS="$students" ONLY=01,03 OUT="$out"
  assert_success
  assert_line --regexp '^alice +fixed +fixed +20\.00/20$'
  assert_line --regexp '^bob +fixed +[0-9]/[0-9]+ +1?[0-9]\.[0-9]+/20$'
  assert_line --regexp '^carol +no-build +[0-9]/[0-9]+ '
  assert_line --regexp '^  03-deadline-now: [0-9]/[0-9]+ -- .*healthy client was cut'
  [[ $(cd "$students" && find . -type f | sort | xargs md5sum) == "$before" ]] ||
    fail "grading changed or added files in the students' clones"
  for s in alice bob carol; do
    [[ -f $out/$s/results.json && -f $out/$s/junit.xml && -f $out/$s/01-close-wait-leak.tap ]] ||
      fail "no results.json, junit.xml or TAP for $s in $out"
  done
  grep -q '"score": 20.00' "$out/alice/results.json" || fail "alice's results.json: $(cat "$out/alice/results.json")"
  grep -q '<failure message=' "$out/bob/junit.xml" || fail "bob's junit.xml has no failure: $(head -c 600 "$out/bob/junit.xml")"
  grep -q 'error' "$out/carol/01-close-wait-leak.tap" || fail "carol's TAP does not show the compiler's error"
}

# ---- facts the lessons teach, checked on this kernel --------------------

# A keepalive_leak_client: one client that connects and closes at once; its
# orphaned FIN-WAIT-2 lasts $1 s (TCP_LINGER2) instead of tcp_fin_timeout's 60.
keepalive_leak_client() { "$KIT/tools/keepalive-leak" --connect "$PORT" --linger2 "$1" 3>&-; }
close_wait_timers() { ss -Htno state close-wait "( sport = :$PORT )" | grep -c 'timer:' || true; }

@test "fact: keepalive ends a leaked CLOSE-WAIT once the peer's FIN-WAIT-2 is gone, and the descriptor stays open (lesson 01)" {
  # client FIN -> server CLOSE-WAIT, never close()d; client FIN-WAIT-2 (orphan, 1 s) -> gone;
  # keepalive off: CLOSE-WAIT stays, no timer. Keepalive on: probe -> no socket -> RST -> CLOSE, gone from ss; the fd stays
  local base i
  SERVER=$KIT/tools/keepalive-leak start_server --keepalive 0
  for i in 1 2 3; do keepalive_leak_client 1; done
  expect_server_state close-wait -eq 3 "each client closed and the server never calls close(): its sockets wait in CLOSE-WAIT"
  expect_client_state fin-wait-2 -eq 3 "each client closed first: its socket waits in FIN-WAIT-2 for the server's FIN"
  expect_client_state fin-wait-2 -eq 0 "the clients' orphaned FIN-WAIT-2 (TCP_LINGER2 1 s) should be gone within a second or two"
  (( $(server_count close-wait) == 3 && $(close_wait_timers) == 0 )) ||
    fail "with keepalive off, a CLOSE-WAIT socket whose peer is gone should stay, with no timer (ss -o): $(ss -Htno state close-wait "( sport = :$PORT )")"
  stop_server

  SERVER=$KIT/tools/keepalive-leak start_server --keepalive 1
  base=$(fd_count)
  for i in 1 2 3; do keepalive_leak_client 2; done
  expect_server_state close-wait -eq 3 "each client closed and the server never calls close(): its sockets wait in CLOSE-WAIT"
  (( $(close_wait_timers) == 3 )) ||
    fail "with SO_KEEPALIVE, ss -o should show a keepalive timer on each CLOSE-WAIT socket: $(ss -Htno state close-wait "( sport = :$PORT )")"
  # While a client's FIN-WAIT-2 lives, its kernel answers the probes: the server's socket stays.
  local deadline=$(( $(now_ms) + WAIT_MS )) cw fw
  while :; do
    cw=$(server_count close-wait) fw=$(client_count fin-wait-2)   # this order: FIN-WAIT-2 only ever drops
    (( fw == 3 && cw < 3 )) &&
      fail "a CLOSE-WAIT socket went while its peer's FIN-WAIT-2 still answered the probes: something other than keepalive ended it"
    (( cw == 0 )) && break
    (( $(now_ms) > deadline )) &&
      fail "$cw CLOSE-WAIT sockets still there $WAIT_MS ms after the clients' FIN-WAIT-2 ($fw left) should have expired: a keepalive probe (every 1 s) should have drawn an RST"
    sleep 0.05
  done
  expect_fds -eq $(( base + 3 )) "the sockets left ss, but the program never closed them: the three descriptors must still be open"
}
