"""The ``js_runtime`` pytest fixture: run a mini-program's JavaScript in a test.

Loaded through taro_udp's second ``pytest11`` entry point (``taro_udp_js``) or with
``-p taro_udp.js.plugin``. Importing it imports nothing but pytest; the engine is
imported when a test asks for the fixture, and a test on Python < 3.10 or without the
``quickjs-ng`` package is skipped with the reason.

Errors are test failures: an error no JS code caught in a runtime the fixture made (a
listener, a callback, a timer, a Promise job, an unhandled rejection) fails the test
at teardown, with each error's name, message and JS stack (``at f (app.js:5:13)``),
as ``udp_socket_factory`` fails it for an unexpected ``onError``. A test that expects
such errors inspects ``runtime.errors`` and clears it (``runtime.errors.clear()``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Union

import pytest

if TYPE_CHECKING:
    from ._runtime import JSRuntime

__all__ = ["JSRuntimeFactory", "js_runtime"]


class JSRuntimeFactory:
    """``js_runtime(root, **options)`` makes a ``JSRuntime``; all are closed after the test.

    A relative ``root`` is taken from ``rootdir`` (pytest's rootdir for the fixture), so
    that a test finds its mini-program whatever the current directory is.
    """

    def __init__(self, rootdir: Optional[Path] = None) -> None:
        self.runtimes: List[JSRuntime] = []
        self.rootdir = rootdir

    def __call__(self, root: Union[str, Path, None] = None, **options: Any) -> JSRuntime:
        from ._options import project_root
        from ._runtime import JSRuntime

        runtime = JSRuntime(project_root(root, self.rootdir), **options)
        self.runtimes.append(runtime)
        return runtime

    def close_all(self) -> List[str]:
        """Close every runtime; return the uncaught errors left in their ``errors``."""
        problems: List[str] = []
        for runtime in self.runtimes:
            runtime.close()
            for error in runtime.errors:
                problems.append(error.report)
            if runtime.errors_dropped:
                problems.append(f"... and {runtime.errors_dropped} more")
        return problems


@pytest.fixture
def js_runtime(request: pytest.FixtureRequest) -> Iterator[JSRuntimeFactory]:
    """A factory of JS runtimes closed at teardown: ``runtime = js_runtime("miniprogram")``.

    Takes ``JSRuntime``'s arguments (``root``, ``script_timeout``, ``on_console``...); a
    relative ``root`` is resolved against pytest's rootdir, not the current directory.
    Request ``simulated_network`` first to put the JS's sockets on a simulated network.
    An uncaught JS error fails the test when it ends, unless the test cleared it from
    ``runtime.errors`` (the way to say it was expected).
    """
    pytest.importorskip("quickjs", reason="taro_udp.js needs quickjs-ng (Python 3.10+)")
    factory = JSRuntimeFactory(request.config.rootpath)
    problems: List[str] = []
    try:
        yield factory
    finally:
        problems = factory.close_all()
    if problems:
        count = len(problems)
        pytest.fail(
            f"{count} uncaught JavaScript error{'s' if count > 1 else ''} "
            "(clear runtime.errors if the test expects them):\n" + "\n".join(problems),
            pytrace=False,
        )
