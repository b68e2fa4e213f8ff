"""One version number: the workspace's Cargo.toml. The C header's macros,
the Node package and the Python package (whose version maturin takes from
Cargo) must agree with it.

Usage: python3 scripts/check_versions.py
"""
import json
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parents[1]
cargo = (root / "Cargo.toml").read_text()
version = re.search(r'^\[workspace\.package\][^\[]*?^version = "([^"]+)"', cargo, re.M | re.S).group(1)
major, minor, patch = version.split(".")
found = {
    "bindings-node/package.json": json.loads((root / "bindings-node/package.json").read_text())["version"],
}
header = (root / "include/wsproto.h").read_text()
macros = [re.search(rf"#define WSPROTO_VERSION_{p} (\d+)", header).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
found["include/wsproto.h"] = ".".join(macros)
pyproject = (root / "bindings-python/pyproject.toml").read_text()
if 'dynamic = ["version"]' not in pyproject:
    found["bindings-python/pyproject.toml"] = re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)
bad = {k: v for k, v in found.items() if v != version}
for k, v in bad.items():
    print(f"check_versions: {k} says {v}, Cargo.toml says {version}")
if bad:
    sys.exit(1)
print(f"check_versions: {version} everywhere ({', '.join(found)}, Python from Cargo)")
