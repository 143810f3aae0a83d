"""The modules a program may import in the sandbox: the one list, read by the guest (the
build copies this file into it) and by the handbook.

Each is imported when the sandbox is built, so importing it in a program costs nothing and
reads no file. Modules that reach outside (os, sys, io, socket, time, threading, ctypes, ...)
are not here.
"""

ALLOWED = frozenset(
    {
        "base64",
        "bisect",
        "collections",
        "collections.abc",
        "copy",
        "dataclasses",
        "decimal",
        "enum",
        "fractions",
        "functools",
        "hashlib",
        "heapq",
        "itertools",
        "json",
        "math",
        "operator",
        "random",
        "re",
        "statistics",
        "string",
        "textwrap",
        "typing",
    }
)
