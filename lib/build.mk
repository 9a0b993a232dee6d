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

%/server: %/server.c $(LIB_SRC) $(LIB_HDR) $(FLAGS_STAMP)
	$(CC) $(KIT_CFLAGS) -o $@ $< $(LIB_SRC) $(KIT_LDFLAGS)

# lib/ compiled once into an archive, for the many one-file builds of
# tests/wrong-fixes/check (a patched solution is built as DIR/patched).
LIB_ARCHIVE := $(KIT)/.build/libkit.a
$(LIB_ARCHIVE): $(LIB_SRC) $(LIB_HDR) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	cd $(dir $@) && rm -f *.o && $(CC) $(KIT_CFLAGS) -c $(LIB_SRC) && ar rcs $(notdir $@) *.o

%/patched: %/server.c $(LIB_ARCHIVE)
	$(CC) $(KIT_CFLAGS) -o $@ $< $(LIB_ARCHIVE) $(KIT_LDFLAGS)

$(KIT)/tools/%: $(KIT)/tools/%.c $(FLAGS_STAMP)
	$(CC) $(KIT_CFLAGS) -o $@ $< $(KIT_LDFLAGS)

.PHONY: FORCE
FORCE:
