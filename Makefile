# wsproto — top-level build. `make demo` and `make test` do all set-up on a
# fresh machine (Rust, gcc, Python 3.11 and Node 20 present).
#
# Each part of the project adds its own targets in mk/<part>.mk and appends
# them to DEPS_TARGETS, TEST_TARGETS, DEMO_TARGETS and EXAMPLE_TARGETS.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(abspath .)
CARGO ?= cargo
PREFIX ?= /usr/local

DEPS_TARGETS :=
TEST_TARGETS :=
DEMO_TARGETS :=
EXAMPLE_TARGETS :=

.PHONY: all deps test demo examples bench clean
all: examples

include $(sort $(wildcard mk/*.mk))

deps: $(DEPS_TARGETS)
test: $(TEST_TARGETS)
	@echo "make test: every suite passed"
demo: $(DEMO_TARGETS)
examples: $(EXAMPLE_TARGETS)

clean:
	$(CARGO) clean
	rm -rf build
