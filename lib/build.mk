# build.mk - how every server and tool in the kit is compiled.
# Included by the top Makefile and by each lesson's Makefile (via lesson.mk).
#
#   make                          gcc (or $CC), -Wall -Wextra -Werror
#   make CC=clang                 the same with clang
#   make SANITIZE=address,undefined   sanitized build (rebuilds everything)

KIT ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)

CFLAGS_WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CFLAGS_OPT ?= -O2 -g
ifneq ($(SANITIZE),)
  CFLAGS_OPT := -O1 -g -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
KIT_CFLAGS = $(CFLAGS_WARN) $(CFLAGS_OPT) -pthread -I$(KIT)/lib $(CFLAGS)
KIT_LDFLAGS = -pthread $(LDFLAGS)

LIB_SRC := $(wildcard $(KIT)/lib/*.c)
LIB_HDR := $(wildcard $(KIT)/lib/*.h)

# Rebuild everything when the compiler or flags change (e.g. SANITIZE=...).
FLAGS_STAMP := $(KIT)/.build-flags
$(FLAGS_STAMP): FORCE
	@echo '$(CC) $(KIT_CFLAGS) $(KIT_LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(KIT_CFLAGS) $(KIT_LDFLAGS)' > $@

# lib/ is compiled once into an archive that every server links: a save in
# a lesson then recompiles server.c only (make watch answers sooner), and the
# many one-file builds of make check stay cheap. Built in a fresh directory
# and renamed into place, so two makes that build it at once cannot mix
# their objects.
LIB_ARCHIVE := $(KIT)/.build/libkit.a
$(LIB_ARCHIVE): $(LIB_SRC) $(LIB_HDR) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@tmp=$$(mktemp -d $(dir $@)build.XXXXXX) && cd $$tmp && \
	  $(CC) $(KIT_CFLAGS) -c $(LIB_SRC) && ar rcs libkit.a *.o && \
	  mv libkit.a $@ && cd .. && rm -rf $$tmp

%/server: %/server.c $(LIB_ARCHIVE) $(FLAGS_STAMP)
	$(CC) $(KIT_CFLAGS) -o $@ $< $(LIB_ARCHIVE) $(KIT_LDFLAGS)

# tests/wrong-fixes/check builds each wrong fix as DIR/patched: at -O0 (a
# wrong fix is judged by what it does, and -O0 compiles in a quarter of the
# time), unless the build is sanitized.
ifeq ($(SANITIZE),)
%/patched: private CFLAGS_OPT := -O0
endif
%/patched: %/server.c $(LIB_ARCHIVE)
	$(CC) $(KIT_CFLAGS) -o $@ $< $(LIB_ARCHIVE) $(KIT_LDFLAGS)

$(KIT)/tools/%: $(KIT)/tools/%.c $(KIT)/tools/cli.h $(FLAGS_STAMP)
	$(CC) $(KIT_CFLAGS) -o $@ $< $(KIT_LDFLAGS)

.PHONY: FORCE
FORCE:
