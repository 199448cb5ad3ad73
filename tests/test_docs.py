"""The API reference (docs/, Sphinx) names every public name, fixture and option.

CI builds it with warnings as errors (``python -m sphinx -W docs ...``, in .ci/run); this
test only checks, fast and without Sphinx, that nothing public is left out of it, so a
name added to ``__all__`` or a fixture added to the plugin fails here until documented.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import List, Set

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PACKAGES = {
    "taro_udp": "taro_udp.rst",
    "taro_udp.testing": "testing.rst",
    "taro_udp.js": "js.rst",
}


def _documented(page: str) -> Set[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    names = re.findall(r"^\.\. (?:auto\w+|py:\w+):: ([\w.]+)", text, flags=re.MULTILINE)
    return {name.rsplit(".", 1)[-1] for name in names}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_the_reference_documents_every_public_name(package: str) -> None:
    if package == "taro_udp.js" and sys.version_info < (3, 10):  # pragma: no cover
        pytest.skip("taro_udp.js needs Python 3.10+")
    module = importlib.import_module(package)
    missing = sorted(set(module.__all__) - _documented(PACKAGES[package]))
    assert not missing, f"docs/{PACKAGES[package]} does not document {missing}"


def test_the_reference_documents_every_fixture_and_option() -> None:
    from taro_udp.js import plugin as js_plugin
    from taro_udp.testing import plugin

    documented = _documented("plugin.rst")
    fixtures: List[str] = [
        name
        for module in (plugin, js_plugin)
        for name in module.__all__
        if not name.startswith("pytest_") and not inspect.isclass(getattr(module, name))
    ]
    assert "udp_socket_factory" in fixtures
    assert "js_runtime" in fixtures
    assert sorted(set(fixtures) - documented) == []
    source = inspect.getsource(plugin)
    options = re.findall(r'"(--taro-udp[\w-]*)"', source)
    assert options, "no option found in the plugin"
    text = (DOCS / "plugin.rst").read_text(encoding="utf-8")
    assert [o for o in options if f".. option:: {o}" not in text] == []
