# lesson.mk - the rules behind every lesson's three-line Makefile.
#
#   make          build ./server from server.c
#   make check    run this lesson's tests against ./server (red until fixed)
#   make demo     the classroom demo: the bug live in `ss`, then the fix
#   make clean

KIT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
LESSON := $(notdir $(CURDIR))
include $(KIT)/lib/build.mk
.DEFAULT_GOAL := all

.PHONY: all check demo clean
all: server $(KIT)/tools/client

check: all
	@$(KIT)/tools/need check
	@$(KIT)/tests/run student $(LESSON)

demo:
	@$(KIT)/tools/need demo
	@$(MAKE) -s -C $(KIT) all
	@$(KIT)/tools/demo $(LESSON)

clean:
	rm -f server

server: server.c $(LIB_SRC) $(LIB_HDR) $(FLAGS_STAMP)
	$(CC) $(KIT_CFLAGS) -o $@ $< $(LIB_SRC) $(KIT_LDFLAGS)

$(KIT)/tools/client: FORCE
	@$(MAKE) -s -C $(KIT) tools/client
