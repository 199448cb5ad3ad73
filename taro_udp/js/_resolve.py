"""Where ``require(request)`` finds its file: Node's and webpack's order, inside the root.

For a request made from the module in ``directory`` (a POSIX path relative to the project
root), in this order (the first file found wins):

1. ``@tarojs/taro`` (and nothing else) is the runtime's own ``Taro``: ``BUILTIN_TARO``.
2. A relative request (``./x``, ``../x``) or a root one (``/x``) is a file: ``x`` itself,
   then ``x`` + each of ``EXTENSIONS`` (``.ts`` first: a ``.js`` compiled next to its
   ``.ts`` source does not shadow it), then ``x`` as a folder (below).
3. Any other request is first mapped by the root's ``tsconfig.json`` (or
   ``jsconfig.json``) ``compilerOptions.paths`` (``"@/*": ["src/*"]``, relative to its
   ``baseUrl``), as TypeScript and Taro's webpack alias do; then tried relative to
   ``directory``, as WeChat's own ``require('utils/util')`` does (and taro_udp 0.2.0
   did); then as an npm package:
   ``<name>`` or ``@scope/<name>`` plus an optional subpath (``crypto-js/aes``), looked up
   in ``miniprogram_npm/`` (what WeChat's "build npm" makes) and then ``node_modules/``
   of ``directory`` and of each folder above it up to the root; then relative to the
   ``baseUrl`` (the root when none is set: ``import ... from 'src/libs/udp'``), and to
   the root.
4. A folder is its ``package.json``'s ``miniprogram`` folder (WeChat's field, read first),
   ``module`` or ``main`` entry, else its ``index`` + each of ``EXTENSIONS``. An npm
   package's ``exports`` (conditions ``EXPORT_CONDITIONS``, in the package's order) comes
   after ``miniprogram`` and before ``module``/``main``, for the package and its subpaths.

A found file's real path (symlinks followed) must be inside the root's real path, else
the request fails: a link cannot lead out of the project. The module's id is that real
path relative to the root, so one file reached by two names (a symlink, ``./x`` and
``./x.ts``) is one module.
"""

from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path
from typing import Dict, List, Optional, Tuple

__all__ = [
    "BUILTIN_TARO",
    "EXTENSIONS",
    "JSModuleNotFoundError",
    "Resolver",
    "exports_target",
    "read_tsconfig",
    "split_package",
    "strip_jsonc",
]

BUILTIN_TARO = "@tarojs/taro"
EXTENSIONS = (".ts", ".js", ".mjs", ".cjs", ".json")
# package.json fields naming a package's entry, in the order WeChat's build reads them.
MAIN_FIELDS = ("miniprogram", "module", "main")
PACKAGE_FOLDERS = ("miniprogram_npm", "node_modules")
# The `exports` conditions that apply here (a mini-program is a browser-like target that
# both requires and imports); "node", "deno", "react-native"... do not.
EXPORT_CONDITIONS = frozenset({"miniprogram", "browser", "import", "require", "module", "default"})


class JSModuleNotFoundError(FileNotFoundError):
    """``require`` found no file for the request (or only one outside the root)."""


def split_package(request: str) -> Optional[Tuple[str, str]]:
    """``("@scope/name", "sub/path")`` of a bare request, or ``None`` if it is not one."""
    parts = request.split("/")
    if request.startswith("@"):
        if len(parts) < 2 or not parts[0][1:] or not parts[1]:
            return None
        return "/".join(parts[:2]), "/".join(parts[2:])
    if not parts[0] or parts[0] in (".", ".."):
        return None
    return parts[0], "/".join(parts[1:])


def _join(*parts: str) -> Optional[str]:
    """The normalised relative path of ``parts``, or ``None`` if it leaves the root."""
    path = posixpath.normpath(posixpath.join(*parts)) if any(parts) else "."
    if path == ".." or path.startswith("../") or path.startswith("/"):
        return None
    return "" if path == "." else path


def _skip_blank(text: str, i: int) -> int:
    """The index of the first character at or after ``i`` not blank nor in a comment."""
    n = len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            i = text.find("*/", i + 2)
            i = n if i < 0 else i + 2
        else:
            break
    return i


def strip_jsonc(text: str) -> str:
    """JSON with comments and trailing commas (``tsconfig.json``) as plain JSON text."""
    out: List[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith(("//", "/*"), i) or c.isspace():
            i = _skip_blank(text, i)
            out.append(" ")
        elif c == "," and text[_skip_blank(text, i + 1) : _skip_blank(text, i + 1) + 1] in "}]":
            i += 1  # a trailing comma (or one at the very end)
        else:
            out.append(c)
            i += 1
    return "".join(out)


def read_tsconfig(root: Path) -> Tuple[str, Dict[str, List[str]]]:
    """``(baseUrl, paths)`` of the root's ``tsconfig.json`` or ``jsconfig.json``.

    ``baseUrl`` is relative to the root (``""``: the root); an absent, unreadable or
    outside-the-root setting is left out (no mapping), never an error.
    """
    for name in ("tsconfig.json", "jsconfig.json"):
        file = root / name
        if not file.is_file():
            continue
        try:
            config = json.loads(strip_jsonc(file.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return "", {}
        options = config.get("compilerOptions") if isinstance(config, dict) else None
        if not isinstance(options, dict):
            return "", {}
        base = options.get("baseUrl")
        base_url = _join(base) if isinstance(base, str) else ""
        raw = options.get("paths")
        paths: Dict[str, List[str]] = {}
        if isinstance(raw, dict):
            for pattern, targets in raw.items():
                if isinstance(targets, list):
                    paths[str(pattern)] = [str(t) for t in targets if isinstance(t, str)]
        return base_url or "", paths
    return "", {}


def _exported(target: object, star: str) -> Optional[str]:
    # A target: "./file" (with `*` filled in), a list of fallbacks, or conditions read in
    # the package's own order, the first one that applies winning (Node's rule).
    if isinstance(target, str):
        return target.replace("*", star) if target.startswith("./") else None
    if isinstance(target, list):
        for item in target:
            found = _exported(item, star)
            if found is not None:
                return found
        return None
    if isinstance(target, dict):
        for condition, value in target.items():
            if condition in EXPORT_CONDITIONS:
                found = _exported(value, star)
                if found is not None:
                    return found
    return None


def exports_target(exports: object, subpath: str) -> Optional[str]:
    """The file (``"./..."``, relative to the package) that ``package.json``'s
    ``exports`` gives ``subpath`` (``""``: the package itself), or ``None``."""
    if isinstance(exports, dict) and any(str(key).startswith(".") for key in exports):
        table: Dict[str, object] = {str(key): value for key, value in exports.items()}
    elif exports is not None:
        table = {".": exports}  # the sugar: `"exports": "./index.js"` or conditions
    else:
        return None
    key = "./" + subpath if subpath else "."
    if key in table:
        return _exported(table[key], "")
    best: Optional[Tuple[str, str, object]] = None
    for pattern, target in table.items():
        head, star, tail = pattern.partition("*")
        if (
            star
            and key.startswith(head)
            and key.endswith(tail)
            and len(key) >= len(head) + len(tail)
            and (best is None or len(head) > len(best[0]))
        ):
            best = (head, key[len(head) : len(key) - len(tail)], target)
    return _exported(best[2], best[1]) if best is not None else None


class Resolver:
    """Resolution for one project root; results are cached (the root's files are read
    once per request and folder)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))
        self._cache: Dict[Tuple[str, str], str] = {}
        self._packages: Dict[str, Dict[str, object]] = {}
        self.base_url, self.paths = read_tsconfig(self.root)

    def resolve(self, directory: str, request: str) -> str:
        """The module id (root-relative real path) for ``request`` from ``directory``,
        or ``BUILTIN_TARO``. Raises ``JSModuleNotFoundError``."""
        key = (directory, request)
        found = self._cache.get(key)
        if found is None:
            found = self._find(directory, request)
            self._cache[key] = found
        return found

    def _find(self, directory: str, request: str) -> str:
        if request == BUILTIN_TARO:
            return BUILTIN_TARO
        if not request:
            raise JSModuleNotFoundError("require: the module name is empty")
        where = f"Cannot find module '{request}' from '/{directory}'"
        if request.startswith(("./", "../", "/")) or request in (".", ".."):
            base = "" if request.startswith("/") else directory
            path = _join(base, request.lstrip("/"))
            if path is None:
                raise JSModuleNotFoundError(f"require: {request!r} is outside the project root")
            found = self._file_or_folder(path)
            if found is None:
                raise JSModuleNotFoundError(where)
            return found
        found = self._mapped(request)
        if found is None:
            relative = _join(directory, request)
            found = self._file_or_folder(relative) if relative is not None else None
        if found is None:
            found = self._package(directory, request)
        if found is None:
            based = _join(self.base_url, request)
            found = self._file_or_folder(based) if based is not None else None
        if found is None and self.base_url:
            rooted = _join(request)
            found = self._file_or_folder(rooted) if rooted is not None else None
        if found is None:
            raise JSModuleNotFoundError(where)
        return found

    # -- files and folders ----------------------------------------------------------------

    def _file_or_folder(self, path: str) -> Optional[str]:
        return self._file(path) or self._folder(path)

    def _file(self, path: str) -> Optional[str]:
        if path and not path.endswith("/"):
            for candidate in (path, *(path + ext for ext in EXTENSIONS)):
                if (self.root / candidate).is_file():
                    return self._real(candidate)
        return None

    def _folder(self, path: str) -> Optional[str]:
        if not (self.root / path).is_dir():
            return None
        package = self._package_json(path)
        for field in MAIN_FIELDS:
            entry = package.get(field)
            if isinstance(entry, str) and entry:
                target = _join(path, entry)
                if target is not None and target != path:
                    found = self._file(target) or self._index(target)
                    if found is not None:
                        return found
        return self._index(path)

    def _index(self, path: str) -> Optional[str]:
        return self._file(_join(path, "index") or "index")

    def _package_json(self, path: str) -> Dict[str, object]:
        known = self._packages.get(path)
        if known is None:
            known = {}
            file = self.root / path / "package.json"
            if file.is_file():
                try:
                    value = json.loads(file.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    value = None  # a broken package.json: its folder's index, as Node
                if isinstance(value, dict):
                    known = value
            self._packages[path] = known
        return known

    def _real(self, path: str) -> str:
        real = os.path.realpath(self.root / path)
        root = str(self.root)
        if real != root and not real.startswith(root + os.sep):
            raise JSModuleNotFoundError(
                f"require: {path!r} is a link to {real!r}, outside the project root"
            )
        return Path(real).relative_to(self.root).as_posix()

    def _mapped(self, request: str) -> Optional[str]:
        # TypeScript's rule: the pattern with the longest prefix before its `*` wins.
        best: Optional[Tuple[int, str, List[str]]] = None
        for pattern, targets in self.paths.items():
            head, star, tail = pattern.partition("*")
            if not star:
                if request == pattern and (best is None or len(head) > best[0]):
                    best = (len(head), "", targets)
                continue
            if (
                request.startswith(head)
                and request.endswith(tail)
                and len(request) >= len(head) + len(tail)
                and (best is None or len(head) > best[0])
            ):
                best = (len(head), request[len(head) : len(request) - len(tail)], targets)
        if best is None:
            return None
        for target in best[2]:
            path = _join(self.base_url, target.replace("*", best[1]))
            found = self._file_or_folder(path) if path is not None else None
            if found is not None:
                return found
        return None

    # -- npm packages -------------------------------------------------------------------

    def _package(self, directory: str, request: str) -> Optional[str]:
        split = split_package(request)
        if split is None:
            return None
        name, subpath = split
        folder: Optional[str] = directory
        while folder is not None:
            for packages in PACKAGE_FOLDERS:
                home = _join(folder, packages, name)
                if home is None or not (self.root / home).is_dir():
                    continue
                found = self._in_package(home, subpath, packages == "node_modules")
                if found is not None:
                    return found
            folder = None if not folder else posixpath.dirname(folder)
        return None

    def _in_package(self, home: str, subpath: str, npm: bool) -> Optional[str]:
        package = self._package_json(home)
        # An npm package built for mini-programs keeps its files in its `miniprogram`
        # folder, which WeChat reads first: `pkg/sub` is `pkg/<miniprogram>/sub`.
        entry = package.get("miniprogram") if npm else None
        if isinstance(entry, str) and entry:
            inside = _join(home, entry, subpath)
            found = self._file_or_folder(inside) if inside is not None else None
            if found is not None:
                return found
        # Then `exports`, as webpack 5 (Taro's build) reads it; a subpath it does not
        # list is still looked for as a file (Node would refuse it).
        target = exports_target(package.get("exports"), subpath)
        if target is not None:
            exported = _join(home, target)
            found = self._file_or_folder(exported) if exported is not None else None
            if found is not None:
                return found
        if not subpath:
            return self._folder(home)
        plain = _join(home, subpath)
        return self._file_or_folder(plain) if plain is not None else None
