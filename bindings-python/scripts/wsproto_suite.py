"""Runs python-hyper wsproto 1.3.2's own test suite against wsproto_rs.

Downloads the sdist by package name, extracts its ``tests/`` directory into
``build/wsproto-suite``, points its imports at ``wsproto_rs`` and runs
pytest. Tests that exercise wsproto's private pure-Python frame layer are
skipped, each with the reason below; everything else must pass.

Usage: python bindings-python/scripts/wsproto_suite.py [BUILD_DIR]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

VERSION = "1.3.2"

#: Tests of wsproto internals the Rust engine replaces, with the reason.
SKIPS = {
    "tests/test_frame_protocol.py": (
        "tests wsproto's private pure-Python frame layer (Buffer, MessageDecoder, "
        "FrameDecoder, FrameProtocol, XorMaskerSimple); framing is done by wsproto-core "
        "and covered by bindings-python/tests"
    ),
    "tests/test_permessage_deflate.py::TestPerMessageDeflate::test_inbound_": (
        "drives PerMessageDeflate's zlib frame hooks through the private FrameProtocol; "
        "compression runs in wsproto-core (covered by bindings-python/tests/test_deflate.py)"
    ),
    "tests/test_permessage_deflate.py::TestPerMessageDeflate::test_client_": (
        "drives PerMessageDeflate's zlib frame hooks through the private FrameProtocol"
    ),
    "tests/test_permessage_deflate.py::TestPerMessageDeflate::test_decompressor_reset": (
        "inspects the private _decompressor attribute of the pure-Python implementation"
    ),
    "tests/test_permessage_deflate.py::TestPerMessageDeflate::test_compressor_reset": (
        "inspects the private _compressor attribute of the pure-Python implementation"
    ),
    "tests/test_permessage_deflate.py::TestPerMessageDeflate::test_outbound_": (
        "drives PerMessageDeflate's zlib frame hooks through the private FrameProtocol"
    ),
}

CONFTEST = '''
import pytest

SKIPS = {skips!r}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for prefix, reason in SKIPS.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.skip(reason=reason))
'''


def fetch(build: Path) -> Path:
    root = build / "wsproto-suite"
    tests = root / "tests"
    if (root / ".stamp").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
         f"wsproto=={VERSION}", "-d", str(root)],
        check=True,
    )
    with tarfile.open(root / f"wsproto-{VERSION}.tar.gz") as tar:
        prefix = f"wsproto-{VERSION}/tests/"
        members = [m for m in tar.getmembers() if m.name.startswith(prefix) and m.isfile()]
        tests.mkdir(exist_ok=True)
        for m in members:
            data = tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            data = re.sub(r"^(from|import) wsproto(?=[. ]|$)", r"\1 wsproto_rs", data, flags=re.M)
            (tests / m.name[len(prefix):]).write_text(data)
    (root / "conftest.py").write_text(CONFTEST.format(skips=SKIPS))
    (root / ".stamp").write_text(VERSION)
    return root


def main() -> int:
    build = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "build"
    root = fetch(build)
    (root / "conftest.py").write_text(CONFTEST.format(skips=SKIPS))
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests"], cwd=root)


if __name__ == "__main__":
    sys.exit(main())
