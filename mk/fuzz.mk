# Fuzzing: a short smoke run of every cargo-fuzz target in fuzz/.
#
# cargo-fuzz is installed from crates.io into build/tools (once). It needs
# -Z flags (-Zsanitizer=address and friends); the stable toolchain accepts
# them with RUSTC_BOOTSTRAP=1, and ships the AddressSanitizer runtime, so
# no nightly toolchain is needed. Each target first runs the committed
# seeds (fuzz/seeds/<target>) and then mutates them for FUZZ_SECONDS;
# new inputs go to build/fuzz/corpus, crashes to fuzz/artifacts.
#
#   make fuzz-smoke                     all targets, 20 s each
#   make fuzz-smoke FUZZ_SECONDS=600    a longer run
#   make fuzz-smoke FUZZ_TARGETS=frame_server

FUZZ_TOOLS := $(ROOT)/build/tools
CARGO_FUZZ := $(FUZZ_TOOLS)/bin/cargo-fuzz
FUZZ_TARGETS ?= frame_server frame_client handshake_server handshake_client deflate_server deflate_client pair
FUZZ_SECONDS ?= 20
FUZZ_SANITIZER ?= address
FUZZ_TARGET_DIR := $(ROOT)/target/fuzz
FUZZ_CORPUS := $(ROOT)/build/fuzz/corpus

DEPS_TARGETS += cargo-fuzz

.PHONY: cargo-fuzz fuzz-smoke

cargo-fuzz: $(CARGO_FUZZ)
$(CARGO_FUZZ):
	$(CARGO) install --locked cargo-fuzz --root $(FUZZ_TOOLS)

fuzz-smoke: $(CARGO_FUZZ)
	@# The seeds must reach past the handshakes, so the fuzzer starts deep.
	cd fuzz && CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR) $(CARGO) test --lib --quiet
	RUSTC_BOOTSTRAP=1 $(CARGO_FUZZ) build --sanitizer $(FUZZ_SANITIZER) --target-dir $(FUZZ_TARGET_DIR)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_CORPUS)/$$t; \
	  log=$(ROOT)/build/fuzz/$$t.log; \
	  echo "fuzz-smoke: $$t for $(FUZZ_SECONDS) s (log: $$log)"; \
	  if ! RUSTC_BOOTSTRAP=1 $(CARGO_FUZZ) run --sanitizer $(FUZZ_SANITIZER) --target-dir $(FUZZ_TARGET_DIR) \
	      $$t $(FUZZ_CORPUS)/$$t fuzz/seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	      > $$log 2>&1; then \
	    tail -n 60 $$log; echo "fuzz-smoke: $$t FAILED"; exit 1; \
	  fi; \
	  grep -E '^Done [0-9]+ runs' $$log; \
	done
	@echo "fuzz-smoke: every target ran clean"
