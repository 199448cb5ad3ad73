"""Packaging: the sdist and the wheel ship what they should, and nothing else.

Both are built once per module, offline, from a copy of the checkout in a temporary folder
(so no ``build/``, ``dist/`` or ``*.egg-info`` is left in the checkout), with ``python -m
build --no-isolation``: it builds the sdist, then the wheel *from the unpacked sdist*, so a
file the sdist lacks but the build needs fails here. The build tools come with the
``test`` extra; a test run without them skips, saying so.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path
from typing import Dict, FrozenSet, List, NamedTuple, Set

import pytest

import taro_udp

ROOT = Path(__file__).resolve().parent.parent
# Building the sdist and the wheel takes a few seconds; a loaded machine may take longer.
BUILD_TIMEOUT = 150.0
BUILD_TOOLS = ("build", "setuptools", "wheel")

# Not copied to the build folder: VCS data, environments, caches, earlier build output and
# coverage data (this test may run under `coverage run`, writing into the checkout).
_TOP_LEVEL_SKIPPED = frozenset({".git", ".venv", ".tox", "build", "dist", "htmlcov"})
_SKIPPED_ANYWHERE = frozenset(
    {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}
)
# The folders whose every file the sdist must ship (what it takes to run the tests).
SDIST_FOLDERS = ("taro_udp", "tests", "examples", "bench", "docs", "tools")
SDIST_FILES = ("README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml", "setup.cfg", "tox.ini")
DIST_INFO = f"taro_udp-{taro_udp.__version__}.dist-info"


class Dists(NamedTuple):
    source: Path  # the copy of the checkout the sdist was built from
    sdist: Path
    wheel: Path
    log: str  # what the build printed


def _skipped(folder: str, names: List[str]) -> Set[str]:
    skipped = {
        name
        for name in names
        if name in _SKIPPED_ANYWHERE
        or name.endswith((".pyc", ".pyo", ".egg-info"))
        or name == ".coverage"
        or name.startswith(".coverage.")
    }
    if Path(folder) == ROOT:
        skipped |= _TOP_LEVEL_SKIPPED.intersection(names)
    return skipped


def _setuptools_version() -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(part) for part in version("setuptools").split(".")[:1])


def _build_environment(pycache: Path) -> Dict[str, str]:
    # The build is not what the coverage figure measures: keep coverage's subprocess
    # measurement (COVERAGE_PROCESS_CONFIG, ...) out of the build's processes.
    env = {name: value for name, value in os.environ.items() if not name.startswith("COVERAGE")}
    # Bytecode goes to a folder of its own, not into the checkout's copy. (Turning it off
    # with PYTHONDONTWRITEBYTECODE instead makes setuptools warn twice per build.)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    missing = [name for name in BUILD_TOOLS if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"build tools not installed: {', '.join(missing)} (pip install -e '.[test]')")
    if _setuptools_version() < (77,):
        # pyproject.toml's build system: PEP 639 needs setuptools 77, which needs Python 3.9.
        pytest.skip("the build system needs setuptools 77+ (Python 3.9+)")
    folder = tmp_path_factory.mktemp("packaging")
    source = folder / "source"
    shutil.copytree(ROOT, source, ignore=_skipped)
    out = folder / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=_build_environment(folder / "pycache"),
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    sdists = sorted(out.glob("*.tar.gz"))
    wheels = sorted(out.glob("*.whl"))
    assert len(sdists) == 1, sdists
    assert len(wheels) == 1, wheels
    return Dists(source, sdists[0], wheels[0], done.stdout + done.stderr)


def _wheel_names(dists: Dists) -> FrozenSet[str]:
    with zipfile.ZipFile(dists.wheel) as wheel:
        return frozenset(wheel.namelist())


def _wheel_text(dists: Dists, name: str) -> str:
    with zipfile.ZipFile(dists.wheel) as wheel:
        return wheel.read(f"{DIST_INFO}/{name}").decode("utf-8")


def _metadata(dists: Dists) -> Message:
    return HeaderParser().parsestr(_wheel_text(dists, "METADATA"))


def _sdist_names(dists: Dists) -> FrozenSet[str]:
    top = f"taro_udp-{taro_udp.__version__}/"
    with tarfile.open(dists.sdist) as sdist:
        names = [member.name for member in sdist.getmembers() if member.isfile()]
    assert all(name.startswith(top) for name in names), names
    return frozenset(name[len(top) :] for name in names)


def _files_under(root: Path, folder: str) -> Set[str]:
    return {
        path.relative_to(root).as_posix()
        for path in (root / folder).rglob("*")
        if path.is_file() and not path.name.endswith((".pyc", ".pyo"))
    }


@pytest.mark.timeout(BUILD_TIMEOUT + 30)
def test_build_prints_no_warning(dists: Dists) -> None:
    # setuptools' deprecation notices (licence classifiers, setup.cfg metadata) and
    # MANIFEST.in lines that match nothing ("warning: ...", "...Warning: ...", "WARNING"),
    # not file names that contain the word.
    warning = re.compile(r"(^|\s)[Ww]arning:|Warning:|WARNING")
    warnings = [line for line in dists.log.splitlines() if warning.search(line)]
    assert not warnings, "\n".join(warnings)


@pytest.mark.timeout(BUILD_TIMEOUT + 30)
def test_wheel_and_sdist_are_named_after_the_version(dists: Dists) -> None:
    assert dists.wheel.name == f"taro_udp-{taro_udp.__version__}-py3-none-any.whl"
    assert dists.sdist.name == f"taro_udp-{taro_udp.__version__}.tar.gz"


@pytest.mark.timeout(BUILD_TIMEOUT + 30)
def test_wheel_holds_the_package_and_its_metadata_only(dists: Dists) -> None:
    names = _wheel_names(dists)
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"taro_udp", DIST_INFO}
    for name in ("tests", "bench", "examples", "docs"):
        assert not any(n.startswith(f"{name}/") for n in names), f"{name}/ is in the wheel"
    assert not any(n.endswith((".pyc", ".pyo")) or "__pycache__" in n for n in names)
    # Every module of the package (subpackages included) and its py.typed marker.
    assert "taro_udp/py.typed" in names
    # The TypeScript/ES module transform runs from the wheel, with its licences.
    assert "taro_udp/js/_vendor/sucrase.js" in names
    assert "taro_udp/js/_vendor/LICENSE" in names
    package = {n for n in names if n.startswith("taro_udp/")}
    assert package == _files_under(dists.source, "taro_udp")


@pytest.mark.timeout(BUILD_TIMEOUT + 30)
def test_wheel_ships_the_license(dists: Dists) -> None:
    # setuptools puts it at .dist-info/LICENSE, or .dist-info/licenses/LICENSE (PEP 639).
    licenses = [
        name
        for name in _wheel_names(dists)
        if name.startswith(f"{DIST_INFO}/") and name.rsplit("/", 1)[-1] == "LICENSE"
    ]
    assert len(licenses) == 1, licenses
    with zipfile.ZipFile(dists.wheel) as wheel:
        shipped = wheel.read(licenses[0]).decode("utf-8")
    assert shipped == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert shipped.startswith("MIT License\n")
    assert "Copyright (c) 2026 The taro_udp authors" in shipped


@pytest.mark.timeout(BUILD_TIMEOUT + 30)
def test_wheel_metadata_declares_the_mit_license(dists: Dists) -> None:
    metadata = _metadata(dists)
    assert metadata["Name"].replace("-", "_") == "taro_udp"
    assert metadata["Version"] == taro_udp.__version__
    # PEP 639: an SPDX expression, the licence file named, and no licence classifier
    # (deprecated: setuptools warned four times per build about it).
    assert metadata["Metadata-Version"] == "2.4"
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License"] is None
    assert not [c for c in metadata.get_all("Classifier", []) if c.startswith("License ::")]
    assert [Path(name).name for name in metadata.get_all("License-File", [])] == ["LICENSE"]
    assert metadata["Requires-Python"] == ">=3.8"


@pytest.mark.timeout(BUILD_TIMEOUT + 30)
def test_wheel_metadata_names_the_author_and_the_project_urls(dists: Dists) -> None:
    metadata = _metadata(dists)
    assert metadata["Author"] == "The taro_udp authors"
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL", []))
    assert urls, "no Project-URL"
    assert all(url.startswith("https://") for url in urls.values()), urls
    assert metadata["Description-Content-Type"] == "text/markdown"
    extras = set(metadata.get_all("Provides-Extra", []))
    assert {"js", "test", "dev", "docs"} <= extras, extras


@pytest.mark.timeout(BUILD_TIMEOUT + 30)
def test_wheel_declares_the_entry_points(dists: Dists) -> None:
    entry_points = configparser.ConfigParser()
    entry_points.read_string(_wheel_text(dists, "entry_points.txt"))
    assert dict(entry_points["console_scripts"]) == {"taro-udp": "taro_udp._cli:main"}
    assert dict(entry_points["pytest11"]) == {
        "taro_udp": "taro_udp.testing.plugin",
        "taro_udp_js": "taro_udp.js.plugin",
    }


@pytest.mark.timeout(BUILD_TIMEOUT + 30)
def test_sdist_ships_what_building_and_testing_need(dists: Dists) -> None:
    names = _sdist_names(dists)
    for name in (*SDIST_FILES, "PKG-INFO", "taro_udp/py.typed"):
        assert name in names, f"{name} is not in the sdist"
    for folder in SDIST_FOLDERS:
        missing = _files_under(dists.source, folder) - names
        assert not missing, f"not in the sdist: {sorted(missing)}"
    # The repository's own CI is not part of the source distribution, nor are caches.
    assert not any(name.startswith(".ci/") for name in names)
    assert not any(name.endswith((".pyc", ".pyo")) or "__pycache__" in name for name in names)
