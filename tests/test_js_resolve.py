"""``taro_udp.js._resolve``: where ``require`` finds a file, without a JS engine.

Pure functions over a folder tree, so these run on every Python (the resolver needs no
quickjs); ``tests/test_js_modules.py`` checks the same order through ``require``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

from taro_udp.js._resolve import BUILTIN_TARO, JSModuleNotFoundError, Resolver, split_package


def _tree(root: Path, files: Dict[str, str]) -> Resolver:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return Resolver(root)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ("crypto-js", ("crypto-js", "")),
        ("crypto-js/aes", ("crypto-js", "aes")),
        ("@tarojs/taro", ("@tarojs/taro", "")),
        ("@scope/pkg/a/b", ("@scope/pkg", "a/b")),
        ("@scope", None),
        ("@/utils", None),
        ("./x", None),
        ("../x", None),
        ("/x", None),
    ],
)
def test_split_package(request_: str, expected: Optional[Tuple[str, str]]) -> None:
    assert split_package(request_) == expected


def test_ts_comes_before_js_and_an_exact_file_before_both(tmp_path: Path) -> None:
    resolver = _tree(tmp_path, {"a.ts": "", "a.js": "", "b": "", "b.ts": ""})
    assert resolver.resolve("", "./a") == "a.ts"
    assert resolver.resolve("", "./a.js") == "a.js"
    assert resolver.resolve("", "./b") == "b"


def test_a_folder_is_its_package_main_then_its_index(tmp_path: Path) -> None:
    resolver = _tree(
        tmp_path,
        {
            "with_main/package.json": '{"main": "lib/start"}',
            "with_main/lib/start.ts": "",
            "with_main/index.js": "",
            "broken/package.json": "{not json",
            "broken/index.ts": "",
            "plain/index.js": "",
        },
    )
    assert resolver.resolve("", "./with_main") == "with_main/lib/start.ts"
    assert resolver.resolve("", "./broken") == "broken/index.ts"
    assert resolver.resolve("pages", "../plain") == "plain/index.js"


def test_dot_is_the_folders_index(tmp_path: Path) -> None:
    resolver = _tree(tmp_path, {"utils/index.ts": "", "utils/a.ts": ""})
    assert resolver.resolve("utils", ".") == "utils/index.ts"
    assert resolver.resolve("utils", "./") == "utils/index.ts"


def test_miniprogram_field_wins_over_module_and_main(tmp_path: Path) -> None:
    resolver = _tree(
        tmp_path,
        {
            "node_modules/p/package.json": '{"main": "m.js", "module": "e.js",'
            ' "miniprogram": "dist"}',
            "node_modules/p/m.js": "",
            "node_modules/p/e.js": "",
            "node_modules/p/dist/index.js": "",
        },
    )
    assert resolver.resolve("pages/x", "p") == "node_modules/p/dist/index.js"


def test_tarojs_taro_is_builtin_whatever_is_installed(tmp_path: Path) -> None:
    resolver = _tree(tmp_path, {"node_modules/@tarojs/taro/index.js": ""})
    assert resolver.resolve("", "@tarojs/taro") == BUILTIN_TARO
    # Its subpaths are the installed package's files.
    assert resolver.resolve("", "@tarojs/taro/index") == "node_modules/@tarojs/taro/index.js"


def test_requests_leaving_the_root_fail(tmp_path: Path) -> None:
    (tmp_path / "outside.js").write_text("")
    resolver = _tree(tmp_path / "root", {"a.js": ""})
    os.symlink(tmp_path / "outside.js", tmp_path / "root" / "link.js")
    with pytest.raises(JSModuleNotFoundError, match="outside the project root"):
        resolver.resolve("", "../outside")
    with pytest.raises(JSModuleNotFoundError, match="outside the project root"):
        resolver.resolve("", "./link")
    with pytest.raises(JSModuleNotFoundError, match="Cannot find module 'nope' from '/sub'"):
        resolver.resolve("sub", "nope")


def test_results_are_cached_by_request_and_folder(tmp_path: Path) -> None:
    resolver = _tree(tmp_path, {"a.js": ""})
    assert resolver.resolve("", "./a") == "a.js"
    (tmp_path / "a.ts").write_text("")  # found later: the first answer stands
    assert resolver.resolve("", "./a") == "a.js"
    assert Resolver(tmp_path).resolve("", "./a") == "a.ts"


def test_tsconfig_paths_map_aliases_from_the_base_url(tmp_path: Path) -> None:
    resolver = _tree(
        tmp_path,
        {
            "tsconfig.json": """{
              // Taro's template: "@/..." is src/
              "compilerOptions": {
                "baseUrl": ".",
                "paths": {
                  "@/*": ["./src/*"],
                  "@/utils/*": ["./missing/*", "./src/shared/*"], /* the longer prefix wins */
                  "config": ["./src/config/index.ts"],
                },
              },
            }""",
            "src/pages/a.ts": "",
            "src/shared/udp.ts": "",
            "src/utils/udp.ts": "",
            "src/config/index.ts": "",
        },
    )
    assert resolver.resolve("src/pages", "@/pages/a") == "src/pages/a.ts"
    assert resolver.resolve("src/pages", "@/utils/udp") == "src/shared/udp.ts"
    assert resolver.resolve("", "config") == "src/config/index.ts"
    with pytest.raises(JSModuleNotFoundError, match="Cannot find module '@/nope'"):
        resolver.resolve("", "@/nope")


def test_a_base_url_is_where_bare_names_are_found_last(tmp_path: Path) -> None:
    resolver = _tree(
        tmp_path,
        {
            "jsconfig.json": '{"compilerOptions": {"baseUrl": "src"}}',
            "src/utils/x.js": "",
            "lib/y.js": "",
        },
    )
    assert resolver.resolve("pages", "utils/x") == "src/utils/x.js"
    assert resolver.resolve("pages", "lib/y") == "lib/y.js"  # the root still counts


def test_a_broken_tsconfig_maps_nothing(tmp_path: Path) -> None:
    resolver = _tree(tmp_path, {"tsconfig.json": "{ not json", "src/a.ts": ""})
    assert (resolver.base_url, resolver.paths) == ("", {})
    assert resolver.resolve("", "src/a") == "src/a.ts"


@pytest.mark.parametrize(
    ("exports", "subpath", "expected"),
    [
        ("./main.js", "", "./main.js"),
        ({"import": "./esm.mjs", "require": "./cjs.js"}, "", "./esm.mjs"),
        ({"node": "./node.js", "require": "./cjs.js"}, "", "./cjs.js"),
        ({".": {"browser": {"default": "./b.js"}, "default": "./d.js"}}, "", "./b.js"),
        ({".": "./i.js", "./utils/*": "./lib/utils/*.js"}, "utils/crc", "./lib/utils/crc.js"),
        ({"./*": "./src/*.js", "./a/*": "./lib/a/*.js"}, "a/b", "./lib/a/b.js"),
        ({".": "./i.js", "./hidden": None}, "hidden", None),
        ({".": "./i.js"}, "other", None),
        ({".": ["bad-not-relative", "./fallback.js"]}, "", "./fallback.js"),
        (None, "", None),
    ],
)
def test_exports_targets(exports: object, subpath: str, expected: Optional[str]) -> None:
    from taro_udp.js._resolve import exports_target

    assert exports_target(exports, subpath) == expected


def test_package_exports_come_after_miniprogram_and_before_main(tmp_path: Path) -> None:
    resolver = _tree(
        tmp_path,
        {
            "node_modules/modern/package.json": '{"main": "old.js", "exports": {'
            '".": {"node": "./node.cjs", "import": "./esm/index.js"},'
            ' "./sub/*": "./esm/sub/*.js"}}',
            "node_modules/modern/old.js": "",
            "node_modules/modern/node.cjs": "",
            "node_modules/modern/esm/index.js": "",
            "node_modules/modern/esm/sub/x.js": "",
            "node_modules/modern/plain.js": "",
            "node_modules/mp/package.json": '{"miniprogram": "dist", "exports": "./esm.js"}',
            "node_modules/mp/dist/index.js": "",
            "node_modules/mp/esm.js": "",
        },
    )
    assert resolver.resolve("", "modern") == "node_modules/modern/esm/index.js"
    assert resolver.resolve("", "modern/sub/x") == "node_modules/modern/esm/sub/x.js"
    # Not exported, still a file: found (Node would refuse it; a bundle would not care).
    assert resolver.resolve("", "modern/plain") == "node_modules/modern/plain.js"
    assert resolver.resolve("", "mp") == "node_modules/mp/dist/index.js"
