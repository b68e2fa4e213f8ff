# The Rust core: formatting, lints, tests, fuzz smoke runs, the Rust demo.

TEST_TARGETS += lint test-rust fuzz-smoke
DEMO_TARGETS += demo-rust
EXAMPLE_TARGETS += examples-rust

.PHONY: lint test-rust fuzz-smoke demo-rust examples-rust bench-rust

lint:
	python3 scripts/check_versions.py
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p wsproto-core --no-deps --quiet

test-rust:
	$(CARGO) test -p wsproto-core -p wsproto-examples

examples-rust:
	$(CARGO) build --release -p wsproto-examples

demo-rust: examples-rust
	./examples/rust/demo.sh

bench-rust:
	$(CARGO) bench -p wsproto-core
