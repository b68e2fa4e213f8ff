# Protocol conformance of the echo servers and echo clients of every language
# (C, Rust, Python, Node) over TCP on 127.0.0.1, checked by a peer written
# from RFC 6455 with Python's standard library alone (tests/conformance/). The
# C programs also run built with AddressSanitizer+UBSan and under valgrind.

TEST_TARGETS += test-conformance
.PHONY: test-conformance conformance-asan conformance-peers

CONFORMANCE_ASAN := $(ROOT)/build/conformance/echo_server_asan
CONFORMANCE_CLIENT_ASAN := $(ROOT)/build/conformance/echo_client_asan
CONFORMANCE_SAN_FLAGS := -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

test-conformance: examples-c examples-rust python-install examples-node conformance-asan c-deps
	tests/conformance/run.sh

# The C echo server and client with the sanitizers, linked with the static library.
conformance-asan: c-lib
	mkdir -p $(dir $(CONFORMANCE_ASAN))
	$(CC) $(C_EXAMPLE_FLAGS) $(CONFORMANCE_SAN_FLAGS) -o $(CONFORMANCE_ASAN) examples/c/echo_server.c \
	  $(C_LIBDIR)/libwsproto.a $(C_STATIC_DEPS)
	$(CC) $(C_EXAMPLE_FLAGS) $(CONFORMANCE_SAN_FLAGS) -o $(CONFORMANCE_CLIENT_ASAN) examples/c/echo_client.c \
	  $(C_LIBDIR)/libwsproto.a $(C_STATIC_DEPS)

# The same cases against ws and websockets echo servers, for comparison.
conformance-peers: venv node-peers
	tests/conformance/peers.sh
