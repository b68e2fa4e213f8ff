# permessage-deflate interop of the core (via the Rust examples) with the
# Python `websockets` package and Node's `ws`, both roles.

TEST_TARGETS += test-interop
.PHONY: test-interop
test-interop: venv node-peers examples-rust
	tests/interop/run.sh
