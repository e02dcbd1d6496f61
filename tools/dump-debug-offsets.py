#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Dump the running interpreter's _Py_DebugOffsets (the bytes at _PyRuntime+0).

CPython 3.13+ starts _PyRuntimeState with a _Py_DebugOffsets block that
out-of-process tools read to learn the layout (cookie "xdebugpy", then
PY_VERSION_HEX, free_threaded, then uint64 offsets). This reads it from
inside the interpreter, through ctypes, so the unit tests can replay a real
one without a live process:

    python3.13 tools/dump-debug-offsets.py > tests/unit/data/debug_offsets_3_13_0.h

The default length, 584, is sizeof(_Py_DebugOffsets) in 3.13 (pahole of
3.13.0, and Include/internal/pycore_runtime.h at v3.13.0). Pass --length for
other layouts. Output is a C header (default) or --hex, one line.
"""
import argparse
import ctypes
import struct
import sys

COOKIE = b"xdebugpy"
SIZEOF_3_13 = 584


def read_debug_offsets(length):
    # _PyRuntime is exported from libpython (and from a static python
    # executable); ctypes.pythonapi is the interpreter's own symbol scope.
    addr = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
    return ctypes.string_at(addr, length)


def c_header(blob, version, free_threaded):
    v = sys.version_info
    tag = "%d_%d_%d" % (v.major, v.minor, v.micro)
    lines = [
        "/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */",
        "/*",
        " * _Py_DebugOffsets as read from _PyRuntime+0 of a live interpreter by",
        " * tools/dump-debug-offsets.py. Do not edit: regenerate with that script.",
        " *",
        " * interpreter: %s" % sys.version.replace("\n", " "),
        " * executable:  %s" % sys.executable,
        " * version:     0x%08x, free_threaded %d, %d bytes" % (version, free_threaded, len(blob)),
        " */",
        "#ifndef __DEBUG_OFFSETS_%s_H" % tag,
        "#define __DEBUG_OFFSETS_%s_H" % tag,
        "",
        "#include <stdint.h>",
        "",
        "#define DEBUG_OFFSETS_%s_VERSION 0x%08xULL" % (tag, version),
        "",
        "static const uint8_t debug_offsets_%s[%d] = {" % (tag, len(blob)),
    ]
    for i in range(0, len(blob), 12):
        chunk = blob[i:i + 12]
        lines.append("\t" + " ".join("0x%02x," % b for b in chunk))
    lines += ["};", "", "#endif /* __DEBUG_OFFSETS_%s_H */" % tag, ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--length", type=int, default=SIZEOF_3_13,
                    help="bytes to read from _PyRuntime (default %(default)s, 3.13's size)")
    ap.add_argument("--hex", action="store_true", help="print one line of hex instead of a C header")
    args = ap.parse_args()

    if sys.version_info < (3, 13):
        sys.exit("%s: Python %d.%d has no _Py_DebugOffsets (3.13+)"
                 % (sys.executable, sys.version_info.major, sys.version_info.minor))
    if args.length < 24:
        sys.exit("--length %d: shorter than the cookie/version/free_threaded header (24)" % args.length)

    blob = read_debug_offsets(args.length)
    if blob[:8] != COOKIE:
        sys.exit("%s: _PyRuntime+0 does not start with %r: %r" % (sys.executable, COOKIE, blob[:8]))
    version, free_threaded = struct.unpack_from("<QQ", blob, 8)
    if version >> 16 != sys.hexversion >> 16:
        sys.exit("%s: debug offsets declare 0x%08x, interpreter is 0x%08x"
                 % (sys.executable, version, sys.hexversion))

    if args.hex:
        print(blob.hex())
    else:
        sys.stdout.write(c_header(blob, version, free_threaded))


if __name__ == "__main__":
    main()
