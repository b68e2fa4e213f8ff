# The Python binding (bindings-python/, distribution wsproto-rs, import
# wsproto_rs): a drop-in for python-hyper wsproto 1.3 on the Rust core.
#
#   make test-python   install the wheel into build/venv (pip install
#                      ./bindings-python), run its pytest suite, mypy's
#                      stubtest, and wsproto 1.3.2's own test suite
#   make demo-python   the Python client against the C and the Python echo servers
#   make bench-python  decode/encode throughput vs wsproto and websockets

TEST_TARGETS += test-python
DEMO_TARGETS += demo-python
EXAMPLE_TARGETS += python-install

PY_STAMP := $(ROOT)/build/python/.installed
PY_SOURCES := $(shell find $(ROOT)/bindings-python/src $(ROOT)/bindings-python/python $(ROOT)/core/src \
	-type f 2>/dev/null) $(ROOT)/bindings-python/Cargo.toml $(ROOT)/bindings-python/pyproject.toml \
	$(ROOT)/core/Cargo.toml

.PHONY: python-install test-python demo-python bench-python

python-install: $(PY_STAMP)
# pip builds in-tree with maturin (PEP 517), into the workspace's target/.
# (build/venv/.stamp is spelled out: mk/tools.mk, which names it $(VENV), is
# read after this file.)
$(PY_STAMP): $(ROOT)/build/venv/.stamp $(PY_SOURCES)
	$(PY) -m pip install --quiet --force-reinstall --no-deps $(ROOT)/bindings-python
	mkdir -p $(dir $@)
	touch $@

# examples-c: the interop tests run our client against the C echo server.
test-python: venv $(PY_STAMP) examples-c
	cd $(ROOT)/bindings-python && $(PY) -m pytest -q -p no:cacheprovider tests
	cd $(ROOT)/bindings-python && $(PY) -m mypy.stubtest wsproto_rs --allowlist stubtest-allowlist.txt
	$(PY) $(ROOT)/bindings-python/scripts/wsproto_suite.py $(ROOT)/build

demo-python: examples-c $(PY_STAMP)
	PY=$(PY) $(ROOT)/examples/python/demo.sh

bench-python: $(PY_STAMP)
	$(PY) $(ROOT)/bench/python/bench_codec.py --out $(ROOT)/bench/python/RESULTS.md
