#!/usr/bin/env bats
# The student's loop: make watch, make hint, make reset, make diff, make compare,
# make progress.
# Each test works in a throwaway git copy of the kit with lesson 01 only, so
# nothing here touches the real lesson files.

load helpers

setup() {
  trace_test_file_only
  COPY="$BATS_TEST_TMPDIR/kit"
  mkdir -p "$COPY/lessons" "$COPY/solutions" "$COPY/tools"
  cp -r "$KIT/lib" "$KIT/tests" "$KIT/Makefile" "$COPY/"
  cp -r "$KIT/lessons/01-close-wait-leak" "$COPY/lessons/"
  cp -r "$KIT/solutions/01-close-wait-leak" "$COPY/solutions/"
  cp "$KIT"/tools/{client,client.c,kit.sh,lesson,need,packages,verdict,demo} "$COPY/tools/"
  rm -f "$COPY/lessons/01-close-wait-leak/server" "$COPY/tests/"[0-9][0-9]-*.bats
  cp "$KIT/tests/01-close-wait-leak.bats" "$COPY/tests/"
  touch "$COPY/tools/client"   # newer than client.c: no rebuild needed
  git -C "$COPY" init -q && git -C "$COPY" add -A &&
    git -C "$COPY" -c user.name=t -c user.email=t@t commit -qm starter
  LESSON_DIR="$COPY/lessons/01-close-wait-leak"
}

teardown() {
  if [[ -n ${WATCH_PID:-} ]]; then
    kill -TERM "$WATCH_PID" 2>/dev/null
    wait "$WATCH_PID" 2>/dev/null
  fi
}

@test "student: make hint shows hint 1, make hint N=2 the next, a missing hint says how many there are" {
  run make -s -C "$LESSON_DIR" hint
  assert_success
  assert_output --partial "Hint 1 of 3"
  assert_output --partial "make hint N=2"
  run make -s -C "$LESSON_DIR" hint N=2
  assert_success
  assert_output --partial "Hint 2 of 3"
  run make -s -C "$LESSON_DIR" hint N=9
  assert_failure
  assert_output --partial "there are 3"
}

@test "student: make diff shows nothing before a change and the change after" {
  run make -s -C "$LESSON_DIR" diff
  assert_success
  assert_output "You have not changed server.c yet."
  sed -i 's|return;                     /\* BUG: no close(c->fd) \*/|close(c->fd); return;|' "$LESSON_DIR/server.c"
  run make -s -C "$LESSON_DIR" diff
  assert_success
  assert_output --partial "+            close(c->fd); return;"
}

@test "student: make reset asks first, keeps the change on no, restores the starter on yes" {
  echo "/* my change */" >>"$LESSON_DIR/server.c"
  run bash -c "echo n | make -s -C '$LESSON_DIR' reset"
  assert_output --partial "Kept your server.c"
  grep -q 'my change' "$LESSON_DIR/server.c" || fail "reset threw the change away after 'n'"
  run bash -c "echo y | make -s -C '$LESSON_DIR' reset"
  assert_output --partial "Restored the starter"
  git -C "$COPY" diff --quiet -- lessons/01-close-wait-leak/server.c || fail "server.c differs from the starter after reset"
}

@test "student: make compare shows the solution only after a yes" {
  run bash -c "echo n | make -s -C '$LESSON_DIR' compare"
  assert_output --partial "Not shown"
  refute_output --partial "echo_until_done"
  run bash -c "echo y | make -s -C '$LESSON_DIR' compare"
  assert_output --partial "echo_until_done"
}

@test "student: watch checks once at start, once per change, and stops cleanly leaving no server" {
  # starter -> verdict "not fixed"; save the solution -> exactly one rebuild -> "FIXED"; SIGTERM -> exit 0
  local out="$BATS_TEST_TMPDIR/watch.out"
  cp "$COPY/solutions/01-close-wait-leak/server.c" "$LESSON_DIR/server.c"   # fast: all checks pass
  WATCH_INTERVAL=0.1 "$COPY/tools/lesson" watch "$LESSON_DIR" >"$out" 2>&1 3>&- &
  WATCH_PID=$!
  wait_until 30000 grep -q 'FIXED' "$out" || fail "no first verdict: $(cat "$out")"
  echo "/* saved again */" >>"$LESSON_DIR/server.c"
  two_verdicts() { (( $(grep -c 'FIXED' "$out") == 2 )); }
  wait_until 30000 two_verdicts || fail "no verdict after the change: $(cat "$out")"
  (( $(grep -c 'building' "$out") == 2 )) || fail "expected 2 builds (start + one change): $(cat "$out")"
  (( $(grep -c 'server.c changed' "$out") == 1 )) || fail "expected one change noticed: $(cat "$out")"
  kill -TERM "$WATCH_PID"
  local status=0
  wait "$WATCH_PID" || status=$?
  WATCH_PID=
  (( status == 0 )) || fail "watch exited $status after SIGTERM"
  grep -q 'Stopped watching' "$out" || fail "no goodbye: $(cat "$out")"
  run pgrep -f "$LESSON_DIR/server"
  assert_failure   # no server left running
}

@test "student: make progress says which lessons are fixed, which still have their bug, and which is next" {
  # lesson 01 given the solution's fix, lesson 03 its starter -> [x] 01 fixed, [ ] 03 bug still there, Next: 03
  # (03's starter fails its checks in about a second; 02's would take ten, waiting out its deadlines)
  cp -r "$KIT/lessons/03-deadline-now" "$COPY/lessons/"
  rm -f "$COPY/lessons/03-deadline-now/server"
  cp "$KIT/tests/03-deadline-now.bats" "$COPY/tests/"
  cp "$KIT/tools/progress" "$COPY/tools/"
  cp "$COPY/solutions/01-close-wait-leak/server.c" "$LESSON_DIR/server.c"
  run "$COPY/tools/progress"
  assert_success
  assert_line --regexp '^\[x\] 01-close-wait-leak +fixed$'
  assert_line --regexp '^\[ \] 03-deadline-now +bug still there  -- [a-z0-9]+ '
  assert_line 'Next: lessons/03-deadline-now (read its README.md, then make check in that folder).'
}
