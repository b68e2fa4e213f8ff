# Protocol conformance of the echo servers of every language (C, Rust,
# Python, Node) over TCP on 127.0.0.1, checked by a client written from
# RFC 6455 with Python's standard library alone (tests/conformance/).

TEST_TARGETS += test-conformance
.PHONY: test-conformance
test-conformance: examples-c examples-rust python-install examples-node
	tests/conformance/run.sh

# The same cases against ws and websockets echo servers, for comparison.
.PHONY: conformance-peers
conformance-peers: venv node-peers
	tests/conformance/peers.sh
