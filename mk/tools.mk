# Shared tools every part's tests use, installed into build/ by package name.
#   $(VENV)/bin/python : a virtualenv with the Python peers and test tools
#   $(PEERS)/node_modules : Node peers (ws, bufferutil) for interop tests
# Targets depend on the stamp files so the installs run once.

VENV := $(ROOT)/build/venv
PY := $(VENV)/bin/python
PEERS := $(ROOT)/build/peers
PYTHON ?= python3

PY_TOOLS := websockets==15.0.1 wsproto==1.3.2 h11 pytest mypy maturin>=1.7,<2

DEPS_TARGETS += venv node-peers

.PHONY: venv node-peers
venv: $(VENV)/.stamp
$(VENV)/.stamp: mk/tools.mk
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '$(subst $(space),' ',$(PY_TOOLS))'
	touch $@

node-peers: $(PEERS)/.stamp
$(PEERS)/.stamp: mk/tools.mk
	mkdir -p $(PEERS)
	cd $(PEERS) && [ -f package.json ] || echo '{"name":"wsproto-peers","private":true}' > $(PEERS)/package.json
	cd $(PEERS) && npm install --no-audit --no-fund --silent ws@8 bufferutil@4 typescript@5 @types/node@20
	touch $@

empty :=
space := $(empty) $(empty)
