#!/usr/bin/env bats
# The slide decks: every lesson has one, no snippet or `ss` output in them is
# typed by hand, and each built deck works on a projector with no network:
# opened in headless Chromium, it shows as many slides as its Markdown has,
# every image is inlined and loads, nothing is cut off, the console stays
# clean. A PNG of each deck's first slide is saved next to it.
#
# setup_file builds the decks (slides/tools/build: the same as `make slides`
# after `make`; captures are reused when nothing changed) and opens them all
# once; each test then reads one fact from what was seen.
# Needs node, npm and chromium: `tools/need slides-check` installs them.

load helpers

SLIDES="$KIT/slides"

setup_file() {
  local kit; kit="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
  local out="$BATS_FILE_TMPDIR"
  if "$kit/slides/tools/build" >"$out/build.log" 2>&1 3>&-; then
    local decks; decks=$(cd "$kit/slides" && ls [0-9][0-9]-*.md | sed 's|^\(.*\)\.md$|slides/build/\1.html|')
    (cd "$kit" && node slides/tools/check.mjs $decks) >"$out/check.out" 2>"$out/check.err" 3>&-
    echo $? >"$out/check.rc"
  else
    echo build-failed >"$out/check.rc"
  fi
}

# deck_sources: slides/NN-slug.md, one name (NN-slug) a line.
deck_sources() { (cd "$SLIDES" && ls [0-9][0-9]-*.md | sed 's/\.md$//'); }

# expected_slides NAME: the slides the Markdown source gives: --- lines outside
# code blocks, plus one.
expected_slides() {
  awk 'BEGIN { n = 1 } /^(```|~~~)/ { f = !f; next } !f && $0 == "---" { n++ } END { print n }' "$SLIDES/$1.md"
}

# seen NAME FIELD: what Chromium saw of deck NAME (from the check's line).
seen() {
  awk -v d="deck=$1" -v f="$2" '$1 == d { for (i = 2; i <= NF; i++) if (index($i, f "=") == 1) print substr($i, length(f) + 2) }' "$BATS_FILE_TMPDIR/check.out"
}

# problems NAME: the check's indented problem lines for deck NAME.
problems() {
  awk -v d="deck=$1" '$1 == d { on = 1; next } /^deck=/ { on = 0 } on' "$BATS_FILE_TMPDIR/check.out"
}

require_checked() {
  local rc; rc=$(cat "$BATS_FILE_TMPDIR/check.rc")
  if [[ $rc == build-failed ]]; then
    fail "the slides build (slides/tools/build, what make slides runs) failed:
$(tail -n 30 "$BATS_FILE_TMPDIR/build.log")"
  fi
  [[ $rc == 0 ]] || fail "the browser check (slides/tools/check.mjs) failed with status $rc:
$(tail -n 20 "$BATS_FILE_TMPDIR/check.err")
(it needs Debian's chromium: tools/need slides-check installs it)"
}

@test "slides: there is an intro deck and one deck per lesson" {
  # lessons/NN-slug -> slides/NN-slug.md
  [[ -f $SLIDES/00-intro.md ]] || fail "slides/00-intro.md is missing: the intro deck (why connections leak, the close handshake, reading ss)"
  local missing=() l
  for l in $(cd "$KIT/lessons" && ls -d [0-9][0-9]-*); do
    [[ -f $SLIDES/$l.md ]] || missing+=("slides/$l.md")
  done
  (( ${#missing[@]} == 0 )) || fail "lessons without a deck: ${missing[*]} (a deck is one Markdown file; see slides/README.md)"
}

@test "slides: every deck has 8 to 15 slides" {
  # slides/NN-slug.md: --- separators + 1
  local d n bad=()
  for d in $(deck_sources); do
    n=$(expected_slides "$d")
    (( n >= 8 && n <= 15 )) || bad+=("$d has $n")
  done
  (( ${#bad[@]} == 0 )) || fail "a deck has 8 to 15 slides: ${bad[*]}"
}

@test "slides: no deck types C code or ss output by hand" {
  # deck source -> only ```snippet (from the code's markers) and ```capture (a real run)
  local d hits
  for d in $(deck_sources); do
    hits=$(awk '
      /^(```|~~~)/ {
        if (f) { f = 0; next }
        f = 1; info = substr($0, 4); sub(/^[ \t]+/, "", info)
        if (info ~ /^(c|h)([ \t]|$)/) print FILENAME ":" NR ": C code typed into a deck"
        next
      }
      f && info != "capture" && info != "snippet" &&
        ($0 ~ /Recv-Q[ \t]+Send-Q/ || $0 ~ /^[ \t]*[0-9]+[ \t]+[0-9]+[ \t]+[0-9.*]+:[0-9]+[ \t]/ ||
         $0 ~ /^listening on / || $0 ~ /^close [0-9.]+:[0-9]+ reason=/ || $0 ~ /^conn=[0-9]+ mode=/) {
        print FILENAME ":" NR ": typed output: " $0 }
    ' "$SLIDES/$d.md")
    [[ -z $hits ]] || fail "$hits
Pull code from the lesson files with a \`\`\`snippet block (markers /* include NAME */ ... /* end NAME */), and show ss or server output with a \`\`\`capture block: the build runs it."
  done
}

@test "slides: make slides builds every deck into one self-contained HTML file" {
  # slides/NN-slug.md -> slides/build/NN-slug.html, nothing loaded from elsewhere
  require_checked
  local d html
  for d in $(deck_sources); do
    html="$SLIDES/build/$d.html"
    [[ -s $html ]] || fail "slides/build/$d.html was not built"
    if grep -Eo '(src|href)="(https?:)?//[^"]*"|url\((https?:)?//[^)]*\)' "$html" | grep -q .; then
      fail "slides/build/$d.html refers to the network: $(grep -Eo '(src|href)="(https?:)?//[^"]*"|url\((https?:)?//[^)]*\)' "$html" | head -n 3 | paste -sd' ')"
    fi
  done
}

@test "slides: each deck shows in Chromium as many slides as its Markdown has" {
  # headless Chromium -> count the rendered <section>s; Markdown -> --- + 1
  require_checked
  local d want got
  for d in $(deck_sources); do
    want=$(expected_slides "$d")
    got=$(seen "$d" slides)
    [[ -n $got ]] || fail "Chromium did not report on slides/build/$d.html: $(cat "$BATS_FILE_TMPDIR/check.out")"
    [[ $got == "$want" ]] || fail "slides/build/$d.html shows $got slides in Chromium, but slides/$d.md has $want (--- separators + 1): a --- right under a line of text makes a heading, not a new slide"
  done
}

@test "slides: no deck has a missing or outside image" {
  # <img> -> data: URI, loaded, with a size
  require_checked
  local d
  for d in $(deck_sources); do
    [[ $(seen "$d" broken) == 0 && $(seen "$d" outside) == 0 ]] ||
      fail "slides/build/$d.html: $(problems "$d" | grep -E 'image' | paste -sd';')"
  done
}

@test "slides: no deck logs a console error or asks for the network" {
  # page load -> console.error / uncaught error / any request that is not the file itself
  require_checked
  local d
  for d in $(deck_sources); do
    [[ $(seen "$d" errors) == 0 && $(seen "$d" network) == 0 ]] ||
      fail "slides/build/$d.html: $(problems "$d" | grep -E 'error|network' | paste -sd';')"
  done
}

@test "slides: nothing on a slide runs into the footer or off the edge" {
  # each <section>: content bottom <= footer top, no horizontal overflow
  require_checked
  local d
  for d in $(deck_sources); do
    [[ $(seen "$d" overflow) == 0 ]] ||
      fail "slides/build/$d.html: $(problems "$d" | grep -E 'footer' | paste -sd';') (shorten the slide, or give it <!-- _class: small-code -->)"
  done
}

@test "slides: every lesson's deck shows its bug and its fix recorded by tools/timeline, inlined, with lanes" {
  # ```timeline recipe -> capture --timeline: real runs recorded -> timeline svg -> <img src="data:..."> in the deck
  require_checked
  local d md uri svg lanes panels
  for d in $(deck_sources); do
    [[ $d == 00-* ]] && continue
    grep -q '^```timeline$' "$SLIDES/$d.md" ||
      fail "slides/$d.md has no \`\`\`timeline block: each lesson's deck shows its bug and fix as recorded lanes (see slides/README.md)"
    md="$SLIDES/build/$d.md"
    if ! grep -q 'class="diagram timeline"' "$md" && grep -q '^# Not captured here' "$md" && ! "$KIT/tools/netpair" check >/dev/null 2>&1; then
      continue   # lesson 06 without network namespaces: the note shows instead (the build said so)
    fi
    uri=$(grep -o 'class="diagram timeline"><img alt="[^"]*" src="data:image/svg+xml;base64,[^"]*"' "$md" | head -n 1)
    [[ -n $uri ]] || fail "slides/build/$d.md: the timeline block did not become an inlined image"
    svg=$(sed 's/.*base64,//; s/"$//' <<<"$uri" | base64 -d)
    lanes=$(grep -c '<g class="lane"' <<<"$svg")
    panels=$(grep -c '<g class="panel">' <<<"$svg")
    (( panels == 2 && lanes >= 4 )) ||
      fail "slides/$d.md's timeline should draw two runs (bug, fix) with a lane per connection: it has $panels runs and $lanes lanes"
  done
}

@test "slides: a PNG of each deck's first slide is saved in slides/build" {
  # first slide -> slides/build/NN-slug.png (1280x720)
  require_checked
  local d png
  for d in $(deck_sources); do
    png="$SLIDES/build/$d.png"
    [[ -s $png ]] || fail "no slides/build/$d.png"
    [[ $(head -c 8 "$png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "slides/build/$d.png is not a PNG"
    (( $(stat -c %Y "$png") >= $(stat -c %Y "$SLIDES/build/$d.html") )) || fail "slides/build/$d.png is older than its deck"
  done
}

@test "slides: every capture and timeline the decks show is committed in slides/captures/ (a fresh clone runs none)" {
  # recipe + the sources it runs -> key -> slides/captures/KEY.txt|svg, committed; a change runs it again here
  require_checked
  git -C "$KIT" rev-parse --is-inside-work-tree >/dev/null 2>&1 || skip "not a git work tree"
  local changed; changed=$(git -C "$KIT" status --porcelain -- slides/captures | head -n 5 | paste -sd ';' -)
  [[ -z $changed ]] ||
    fail "slides/captures/ differs from the last commit ($changed): a recipe, or a source one runs, changed, so the build ran them again. Commit them (git add -A slides/captures), so that a fresh clone builds its decks without running them"
}

@test "slides: the browser check itself sees a broken image, a console error and a network request" {
  # a page with all three faults -> check.mjs reports each (so the tests above can fail)
  require_checked
  local page="$BATS_TEST_TMPDIR/bad.html"
  cat >"$page" <<'EOF'
<!DOCTYPE html><html><body>
<svg data-marpit-svg="" viewBox="0 0 1280 720"><foreignObject width="1280" height="720"><section id="1" style="height:720px">
<img alt="missing" src="data:image/svg+xml;base64,bm90IGFuIHN2Zw==">
<img alt="remote" src="http://127.0.0.1:9/x.png">
</section></foreignObject></svg>
<script>console.error("on purpose")</script>
</body></html>
EOF
  run node "$SLIDES/tools/check.mjs" "$page"
  assert_success
  assert_line --regexp '^deck=bad slides=1 images=2 broken=2 outside=1 overflow=0 errors=[1-9][0-9]* network=1 '
  assert_line --partial 'console error: on purpose'
  assert_line --partial 'network: the deck asked for http://127.0.0.1:9/x.png'
}

@test "slides: lesson 11's chart is the one bench.mjs draws from lessons/11-out-of-fds/bench.txt" {
  # README's bench.svg == node slides/diagrams/bench.mjs lessons/11-out-of-fds/bench.txt
  run node "$SLIDES/diagrams/bench.mjs" "$KIT/lessons/11-out-of-fds/bench.txt"
  assert_success
  [[ $output == "$(cat "$KIT/lessons/11-out-of-fds/bench.svg")" ]] ||
    fail "lessons/11-out-of-fds/bench.svg is not drawn from lessons/11-out-of-fds/bench.txt: run node slides/diagrams/bench.mjs lessons/11-out-of-fds/bench.txt > lessons/11-out-of-fds/bench.svg"
}
