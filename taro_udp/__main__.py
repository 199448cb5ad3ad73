"""``python -m taro_udp``: the ``taro-udp`` command line (see ``taro_udp._cli``)."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m taro_udp"))
