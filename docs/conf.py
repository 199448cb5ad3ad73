"""Sphinx configuration of the taro_udp API reference (``python -m sphinx -W docs docs/_build``).

The reference is generated from the docstrings (autodoc). ``taro_udp.js`` is documented
where the JavaScript engine (quickjs-ng, the ``js`` extra) is absent too: autodoc mocks it.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import taro_udp  # after sys.path has the checkout

project = "taro_udp"
author = "The taro_udp authors"
copyright = "2026, The taro_udp authors"  # noqa: A001 - Sphinx's setting name
version = release = taro_udp.__version__

extensions = ["sphinx.ext.autodoc"]
# The engine's module is imported when taro_udp.js's names are first used.
autodoc_mock_imports = ["quickjs", "_quickjs"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
# The docstrings write ``code`` as reST literals; a single-backquoted name is code too.
default_role = "code"
# docs/SPEC.md is the contract, read on its own (Markdown).
exclude_patterns = ["_build", "SPEC.md"]
html_theme = "alabaster"
html_title = f"taro_udp {release}"
