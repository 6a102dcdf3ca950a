"""The interpreter's recursion limit, put back after the eth libraries' imports raised it.

py_ecc (imported by eth_account, so by web3) runs `sys.setrecursionlimit(max(100000, ...))` when imported.
That limit is also the guard of C code that recurses (the standard library's JSON decoder, repr, pickle):
at 100,000 the guard never trips before a thread's C stack overflows, so a request body nested 100,000 deep
kills the process with a segfault instead of raising RecursionError. Nothing here recurses anywhere near
CPython's own default, so the limit goes back to it once the imports are done.
"""

import sys

RECURSION_LIMIT = 1000  # CPython's default, the value before py_ecc raised it


def restore_recursion_limit() -> None:
    sys.setrecursionlimit(RECURSION_LIMIT)
