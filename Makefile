# The kit's top Makefile. `make help` lists the targets.
KIT := $(CURDIR)
.DEFAULT_GOAL := all
include lib/build.mk

LESSONS := $(sort $(notdir $(wildcard lessons/[0-9][0-9]-*)))
LESSON ?= 01
SERVERS := $(LESSONS:%=lessons/%/server) $(LESSONS:%=solutions/%/server)
TOOLS := $(KIT)/tools/client $(KIT)/tools/loadgen $(KIT)/tools/keepalive-leak $(KIT)/tools/timeline
FAULTS := $(KIT)/tools/faults.so
JOBS := $(shell nproc 2>/dev/null || echo 2)

.PHONY: all check demo progress doctor grade stats devcontainer-check clean help
all: $(SERVERS) $(TOOLS) $(FAULTS) $(LIB_ARCHIVE)

# timeline.c includes its SVG half, so make must know about it.
$(KIT)/tools/timeline: $(KIT)/tools/timeline-render.c

# The fault-injection library for tests/faults.bats, preloaded into servers.
# Never sanitized itself: it is preloaded into sanitized servers as well.
$(FAULTS): $(KIT)/tools/faults.c $(FLAGS_STAMP)
	$(CC) $(CFLAGS_WARN) -O2 -g -fPIC -shared -pthread -o $@ $< -ldl


help:
	@echo 'make            build every starter, solution and tool'
	@echo 'make doctor     can this machine run the kit? one line per need, and the fix'
	@echo 'make demo       the classroom demo of lesson 01 (LESSON=NN for another)'
	@echo 'make check      every starter shows its bug, every solution passes'
	@echo 'make progress   which lessons you have fixed, and the next one'
	@echo 'make grade STUDENTS=DIR   instructors: grade clones (results.json, junit.xml, TAP)'
	@echo 'make slides     build the slide decks into slides/build/*.html (PDF=1: PDFs too)'
	@echo 'make bench      threads vs poll() loop vs epoll reactor: memory, CPU, reap lateness'
	@echo 'make fuzz       libFuzzer over the reactor line framing and timer heap (FUZZ_TIME=60)'
	@echo 'make devcontainer-check  replay .devcontainer/Dockerfile in a Debian 12 root and run a lesson there (root, minutes)'
	@echo 'make stats      per lesson: the code diff from starter to solution, the line of the TODO'
	@echo 'make clean      remove what make built'

check:
	@tools/need $(if $(SKIP_SLIDES),check,slides-check)
	@$(MAKE) -s -j$(JOBS) all
	@tests/run all

# The demo builds only what it runs: its lesson's starter and solution, and the tools.
DEMO_LESSON = $(firstword $(filter $(LESSON)%,$(LESSONS)))
demo:
	@tools/need demo
	@$(MAKE) -s -j$(JOBS) $(TOOLS) $(foreach d,lessons solutions,$(DEMO_LESSON:%=$(d)/%/server))
	@tools/demo $(LESSON)

.PHONY: slides
slides:
	@tools/need $(if $(PDF),slides-check,slides)
	@$(MAKE) -s all
	@slides/tools/build $(if $(PDF),--pdf)

.PHONY: bench fuzz
bench:
	@$(MAKE) -s all
	@mkdir -p bench/out
	@bash -c 'tools/bench 2> >(tee bench/out/bench.log >&2) | tee bench/out/table.txt; exit $${PIPESTATUS[0]}'
	@{ grep '^bench:' bench/out/bench.log; cat bench/out/table.txt; } > bench/out/bench.txt
	@if command -v node >/dev/null 2>&1; then node slides/diagrams/bench.mjs bench/out/bench.txt > bench/out/bench.svg && \
	  echo "Chart: bench/out/bench.svg; make slides now draws this run. Lesson 11's README shows" && \
	  echo "lessons/11-out-of-fds/bench.txt and bench.svg; to put this run there instead:" && \
	  echo "  cp bench/out/bench.txt bench/out/bench.svg lessons/11-out-of-fds/"; fi

# libFuzzer over the reactor's line framing and timer heap (needs clang);
# the binary, corpus and any crash input go to bench/out/.
FUZZ_TIME ?= 60
fuzz:
	@mkdir -p bench/out/fuzz-corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(CFLAGS_WARN) \
	  -I$(KIT)/lib -o bench/out/fuzz_loop tools/fuzz/fuzz_loop.c lib/iobuf.c lib/heap.c
	bench/out/fuzz_loop -max_total_time=$(FUZZ_TIME) -artifact_prefix=bench/out/ bench/out/fuzz-corpus

doctor:
	@tools/doctor

# Each lesson's step: the code diff from starter to solution, and the TODO's line.
stats:
	@tools/stats

# make grade STUDENTS=folder-of-clones [ONLY=01,02] [OUT=grade-out]
grade:
	@tools/need check
	@$(MAKE) -s all
	@tools/grade --out $(or $(OUT),grade-out) $(if $(ONLY),--lessons $(ONLY)) $(or $(STUDENTS),$(error make grade needs STUDENTS=PATH: a student's clone or a folder of clones))

# Not part of make check: minutes long, and needs root and debootstrap.
devcontainer-check:
	@tools/devcontainer-check $(LESSON)

progress:
	@tools/need check
	@$(MAKE) -s -k all 2>/dev/null; tools/progress

clean:
	rm -f $(SERVERS) $(TOOLS) $(FAULTS) $(FLAGS_STAMP)
	rm -rf .build
	rm -rf slides/build bench/out grade-out tests/out
