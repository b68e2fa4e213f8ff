# The Node binding (bindings-node/, npm package wsproto-rs).
#
#   make test-node      npm install in bindings-node (builds the addon from
#                       source), check that the committed index.js/index.d.ts
#                       are what napi generates, type-check lib/index.d.ts
#                       (test/types), run the node:test suite
#   make demo-node      the Node client against the C and the Node echo servers
#   make examples-node  the addon the Node examples load
#   make bench-node     codec throughput vs ws (writes nothing; see bench/node)
#   make bench-node-socket  echo over TCP, our socket layer vs ws's (~3 min)

TEST_TARGETS += test-node
DEMO_TARGETS += demo-node
EXAMPLE_TARGETS += examples-node

NODE_DIR := $(ROOT)/bindings-node
NODE_GEN := index.js index.d.ts
NODE_SNAP := $(ROOT)/build/node/generated-before

.PHONY: node-install node-check-generated node-types test-node demo-node examples-node bench-node bench-node-socket

# `npm install` runs the package's install script (napi build --release),
# which also regenerates index.js and index.d.ts. The committed copies are
# saved first so a stale commit is caught even though the build rewrote them.
node-install:
	rm -rf $(NODE_SNAP) && mkdir -p $(NODE_SNAP)
	cd $(NODE_DIR) && for f in $(NODE_GEN); do [ ! -f $$f ] || cp $$f $(NODE_SNAP)/; done
	cd $(NODE_DIR) && npm install --no-audit --no-fund

node-check-generated: node-install
	@cd $(NODE_DIR) && for f in $(NODE_GEN); do \
	  if git ls-files --error-unmatch $$f >/dev/null 2>&1; then \
	    git diff --exit-code HEAD -- $$f || { echo "test-node: $$f differs from what napi generates; commit the new one"; exit 1; }; \
	  elif [ -f $(NODE_SNAP)/$$f ]; then \
	    diff -u $(NODE_SNAP)/$$f $$f || { echo "test-node: $$f changed when napi regenerated it"; exit 1; }; \
	  fi; \
	done
	@echo "test-node: generated index.js and index.d.ts are up to date"

# lib/index.d.ts against code a TypeScript user writes (and misuse it must
# reject): test/types/usage.ts, compiled, never run.
node-types: node-peers
	$(PEERS)/node_modules/.bin/tsc -p $(NODE_DIR)/test/types
	@echo "test-node: lib/index.d.ts type-checks test/types/usage.ts"

test-node: node-check-generated node-types
	cd $(NODE_DIR) && node --test --test-timeout=60000 test/*.test.js

examples-node: node-install

demo-node: examples-node examples-c
	./examples/node/demo.sh

bench-node: node-install
	node bench/node/bench_codec.mjs

bench-node-socket: node-install
	node bench/node/bench_socket.mjs
