# The kit's top Makefile. `make help` lists the targets.
KIT := $(CURDIR)
.DEFAULT_GOAL := all
include lib/build.mk

LESSONS := $(sort $(notdir $(wildcard lessons/[0-9][0-9]-*)))
LESSON ?= 01
SERVERS := $(LESSONS:%=lessons/%/server) $(LESSONS:%=solutions/%/server)
TOOLS := $(KIT)/tools/client

.PHONY: all check demo progress clean help
all: $(SERVERS) $(TOOLS)


help:
	@echo 'make            build every starter, solution and tool'
	@echo 'make demo       the classroom demo of lesson 01 (LESSON=NN for another)'
	@echo 'make check      every starter shows its bug, every solution passes'
	@echo 'make progress   which lessons you have fixed, and the next one'
	@echo 'make clean      remove what make built'

check:
	@tools/need check
	@$(MAKE) -s all
	@tests/run all

demo:
	@tools/need demo
	@$(MAKE) -s all
	@tools/demo $(LESSON)

progress:
	@tools/need check
	@$(MAKE) -s -k all 2>/dev/null; tools/progress

clean:
	rm -f $(SERVERS) $(TOOLS) $(FLAGS_STAMP)
