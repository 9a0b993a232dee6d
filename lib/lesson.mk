# lesson.mk - the rules behind every lesson's three-line Makefile.
#
#   make          build ./server from server.c
#   make check    run this lesson's tests against ./server (red until fixed)
#   make demo     the classroom demo: the bug live in `ss`, then the fix
#   make watch    rebuild and recheck whenever server.c changes (Ctrl-C stops)
#   make hint     a hint (make hint N=2, N=3 for stronger ones)
#   make reset    restore the pristine starter (asks first)
#   make diff     your change against the starter
#   make compare  your server.c against the solution (asks first)
#   make clean

KIT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
LESSON := $(notdir $(CURDIR))
include $(KIT)/lib/build.mk
.DEFAULT_GOAL := all

.PHONY: all check demo clean watch hint reset diff compare
all: server $(KIT)/tools/client

check: all
	@$(KIT)/tools/need check
	@$(KIT)/tests/run student $(LESSON)

demo:
	@$(KIT)/tools/need demo
	@$(MAKE) -s -C $(KIT) all
	@$(KIT)/tools/demo $(LESSON)

watch: $(KIT)/tools/client
	@$(KIT)/tools/need check
	@$(KIT)/tools/lesson watch $(CURDIR)

hint:
	@$(KIT)/tools/lesson hint $(CURDIR) $(N)

reset diff compare:
	@$(KIT)/tools/lesson $@ $(CURDIR)

clean:
	rm -f server

server: server.c $(LIB_ARCHIVE) $(FLAGS_STAMP)
	$(CC) $(KIT_CFLAGS) -o $@ $< $(LIB_ARCHIVE) $(KIT_LDFLAGS)

$(KIT)/tools/client: FORCE
	@$(MAKE) -s -C $(KIT) $(KIT)/tools/client
