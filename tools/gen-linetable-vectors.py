#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Record line-table test vectors from every CPython interpreter present.

Driver (default): run this script under each interpreter with --dump, then
write tests/unit/linetable_vectors.h for tests/unit/test_linetable.c.

  tools/gen-linetable-vectors.py [-o tests/unit/linetable_vectors.h]

Dump (--dump, run by the driver under each interpreter): compile a fixed
snippet, walk every code object, and print JSON with the raw table bytes,
co_firstlineno, the code length and the expected line of every code unit.
Expected lines come from the interpreter's own Python-level API:
  3.8/3.9  dis.findlinestarts(): the last line start <= offset
  3.10     co_lines()
  3.11+    co_positions(), cross-checked against co_lines()
and every one is cross-checked against the C decoder the interpreter itself
uses, PyCode_Addr2Line(), called through ctypes. Any disagreement aborts.

Keep this file runnable by Python 3.8 (no match, no 3.9+ generics).
"""

import json
import os
import subprocess
import sys

PYENV_VERSIONS = ["3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0"]
SYSTEM_PYTHONS = ["/usr/bin/python3.11"]
FILENAME = "<linetable-vectors>"


def build_source():
    """The snippet, identical for every version so line numbers match."""
    lines = []

    def add(text):
        lines.extend(text.strip("\n").split("\n"))

    add('''
import os


def simple(a, b):
    c = a + b
    return c


def loops(n):
    total = 0
    for i in range(n):
        if i % 2:
            total += i
        else:
            continue
    while total > 0:
        total -= 3
        if total == 7:
            break
    return total


def deco(f):
    return f


@deco
@deco
def decorated(
    a,
    b=1,
):
    return a + b


def comprehensions(xs):
    a = [x * 2 for x in xs if x]
    b = {x: y
         for x, y in zip(xs, xs)}
    c = {x for x in xs}
    d = list(x for x in xs)
    e = [[y for y in range(x)] for x in xs]
    return a, b, c, d, e


def exceptions(x):
    try:
        y = 1 / x
    except ZeroDivisionError as e:
        y = str(e)
    except (TypeError, ValueError):
        y = None
    else:
        y += 1
    finally:
        x = 0
    with open(os.devnull) as f, open(os.devnull) as g:
        f.read()
        g.read()
    return y


def lambdas():
    f = lambda x: x + 1
    g = (lambda y:
         y * 2)
    return f(g(1))


def backwards(a, b, c, call):
    # The condition (second line) runs before the value (first line).
    x = (a
         if b
         else c)
    y = call(
        a,
        b,
    )(
        c)
    return x, y


class Klass:
    attr = 1

    def method(self):
        return self.attr

    @property
    def prop(self):
        return (
            self.attr
            + 1
        )


def generator(n):
    for i in range(n):
        yield i
    yield from range(n)


async def coroutine(aw):
    async with aw as v:
        await v
    async for w in aw:
        return w


def closures():
    x = 1

    def inner():
        nonlocal x
        x += 1
        return f"{x!r:>{x}}"
    return inner
''')

    # One line with far more than 255 bytes of bytecode: co_lnotab needs
    # (255, 0) pairs, PEP 626 (254, 0) pairs, locations several entries.
    terms = " + ".join("f(a%d)" % i for i in range(48))
    add('''

def long_line(f, %s):
    r = %s
    return r
''' % (", ".join("a%d" % i for i in range(48)), terms))

    # A function longer than 256 lines, with gaps needing multi-byte deltas
    # (> 127 lines, > 63 and > 4095 for 3.11 varint chunks), and a loop
    # whose back edge jumps 300 lines up.
    add('''

def far_apart(n):
    v = 0
''')
    for i in range(150):
        lines.append("    v = v + %d" % i)
    lines.append("    # gap of 200 lines")
    lines.extend([""] * 200)
    lines.append("    v -= 1")
    lines.extend(["    # comment"] * 5000)
    lines.append("    v -= 2")
    lines.append("    while v > n:")
    lines.extend(["        # loop body far below"] * 300)
    lines.append("        v = v // 2")
    lines.append("    w = (v")
    lines.extend([""] * 150)
    lines.append("         if n else 0)")
    lines.append("    return v + w")

    # Pad so late() starts at line 6301: its co_firstlineno is far from 1
    # and the module's table must carry a large delta to reach it.
    while len(lines) < 6300:
        lines.append("")
    add('''
def late(x):
    y = x * 2

    return y
''')
    return "\n".join(lines) + "\n"


# Syntax only newer versions accept, appended after the common snippet so
# every common function keeps the same line numbers in every version.
EXTRAS = [
    ((3, 10), '''

def matching(p):
    match p:
        case [x, y, *rest]:
            return x + y
        case {"k": v}:
            return v
        case int() | float() if p > 0:
            return p
        case _:
            return None
'''),
    ((3, 11), '''

def groups():
    try:
        raise ExceptionGroup("g", [ValueError(1)])
    except* ValueError as eg:
        caught = eg
    except* TypeError:
        caught = None
    return caught
'''),
    ((3, 12), '''

def generic[T](x: T) -> T:
    type Alias = list[T]
    return x
'''),
]


def walk(code, prefix, out):
    name = code.co_name if not prefix else prefix + "." + code.co_name
    if code.co_name == "<module>":
        name = "<module>"
    out.append(("%s:%d" % (name, code.co_firstlineno), code))
    # Functions (CO_OPTIMIZED) nest as f.<locals>.g, class bodies as C.m.
    if code.co_name == "<module>":
        child_prefix = ""
    elif code.co_flags & 0x1:
        child_prefix = name + ".<locals>"
    else:
        child_prefix = name
    for c in code.co_consts:
        if hasattr(c, "co_code"):
            walk(c, child_prefix, out)


def addr2line():
    import ctypes
    fn = ctypes.pythonapi.PyCode_Addr2Line
    fn.argtypes = [ctypes.py_object, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def expected_lines(code):
    """Line per code unit (2 bytes), -1 for none, from the Python API."""
    import dis
    n = len(code.co_code) // 2
    lines = [-1] * n
    if sys.version_info < (3, 10):
        starts = list(dis.findlinestarts(code))
        for i in range(n):
            off = 2 * i
            for s, line in starts:
                if s <= off:
                    lines[i] = line
        return lines
    for start, end, line in code.co_lines():
        for off in range(start, end, 2):
            lines[off // 2] = -1 if line is None else line
    if sys.version_info >= (3, 11):
        pos = [p[0] for p in code.co_positions()]
        assert len(pos) == n, "co_positions length"
        for i, line in enumerate(pos):
            line = -1 if line is None else line
            if line != lines[i]:
                raise SystemExit("%s: co_positions %d != co_lines %d at %d"
                         % (code.co_name, line, lines[i], 2 * i))
    return lines


def dump():
    src = build_source()
    for ver, extra in EXTRAS:
        if sys.version_info >= ver:
            src += extra
    mod = compile(src, FILENAME, "exec")
    codes = []
    walk(mod, "", codes)
    c_addr2line = addr2line()
    if sys.version_info >= (3, 11):
        kind = "LINETABLE_LOCATIONS"
    elif sys.version_info >= (3, 10):
        kind = "LINETABLE_PEP626"
    else:
        kind = "LINETABLE_LNOTAB"
    import platform
    version = platform.python_version()
    if sys.executable.startswith("/usr/bin/"):
        version += "-debian"
    funcs = []
    for name, code in codes:
        table = code.co_lnotab if kind == "LINETABLE_LNOTAB" else code.co_linetable
        lines = expected_lines(code)
        for i, line in enumerate(lines):
            seen = c_addr2line(code, 2 * i)
            if seen != line:
                raise SystemExit("%s %s: PyCode_Addr2Line %d != %d at %d"
                         % (version, name, seen, line, 2 * i))
        funcs.append({
            "name": name,
            "firstlineno": code.co_firstlineno,
            "table": list(table),
            "code_len": len(code.co_code),
            "lines": lines,
        })
    json.dump({"version": version, "kind": kind, "funcs": funcs}, sys.stdout)


def interpreters():
    roots = [os.environ.get("PYENV_ROOT", ""), "/root/.pyenv"]
    found = []
    for v in PYENV_VERSIONS:
        paths = [os.path.join(r, "versions", v, "bin", "python") for r in roots if r]
        found.append(next((p for p in paths if os.access(p, os.X_OK)), paths[-1]))
    return found + SYSTEM_PYTHONS


def runs(lines):
    """[(start_byte, end_byte, line)] for runs of equal lines."""
    out = []
    for i, line in enumerate(lines):
        if out and out[-1][2] == line and out[-1][1] == 2 * i:
            out[-1][1] = 2 * i + 2
        else:
            out.append([2 * i, 2 * i + 2, line])
    return out


def cident(s):
    return "".join(ch if ch.isalnum() else "_" for ch in s)


def wrap(items, indent="\t", width=96):
    out, cur = [], indent
    for it in items:
        if len(cur) + len(it) + 2 > width and cur.strip():
            out.append(cur.rstrip())
            cur = indent
        cur += it + ", "
    if cur.strip():
        out.append(cur.rstrip())
    return "\n".join(out)


def write_header(dumps, path):
    o = []
    o.append("/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */")
    o.append("/*")
    o.append(" * Recorded line-table vectors: GENERATED by tools/gen-linetable-vectors.py,")
    o.append(" * do not edit. Per interpreter and code object: the raw co_lnotab or")
    o.append(" * co_linetable bytes, co_firstlineno, len(co_code), and runs of byte")
    o.append(" * offsets [start, end) sharing one expected line (-1: no line), taken from")
    o.append(" * the interpreter's own API and PyCode_Addr2Line().")
    o.append(" * Interpreters: " + ", ".join(d["version"] for d in dumps))
    o.append(" */")
    o.append("#ifndef __LINETABLE_VECTORS_H")
    o.append("#define __LINETABLE_VECTORS_H")
    o.append("")
    o.append("#include <stddef.h>")
    o.append("#include <stdint.h>")
    o.append('#include "linetable.h"')
    o.append("")
    o.append("struct lt_run {")
    o.append("\tuint32_t start, end;\t/* byte offsets, end exclusive */")
    o.append("\tint32_t line;")
    o.append("};")
    o.append("")
    o.append("struct lt_vector {")
    o.append("\tconst char *version;")
    o.append("\tconst char *func;\t/* qualified name:co_firstlineno */")
    o.append("\tenum linetable_kind kind;")
    o.append("\tint firstlineno;")
    o.append("\tuint32_t code_len;\t/* len(co_code) in bytes */")
    o.append("\tconst uint8_t *table;")
    o.append("\tsize_t len;")
    o.append("\tconst struct lt_run *runs;")
    o.append("\tsize_t nr_runs;")
    o.append("};")
    o.append("")
    entries = []
    for d in dumps:
        for i, f in enumerate(d["funcs"]):
            ident = "lt_%s_%d" % (cident(d["version"]), i)
            o.append("/* %s %s */" % (d["version"], f["name"]))
            if f["table"]:
                o.append("static const uint8_t %s_table[] = {" % ident)
                o.append(wrap(["0x%02x" % b for b in f["table"]]))
                o.append("};")
            rs = runs(f["lines"])
            o.append("static const struct lt_run %s_runs[] = {" % ident)
            o.append(wrap(["{%d, %d, %d}" % tuple(r) for r in rs]))
            o.append("};")
            table = "%s_table" % ident if f["table"] else "NULL"
            entries.append('\t{"%s", "%s", %s, %d, %d, %s, %d, %s_runs, %d},'
                       % (d["version"], f["name"], d["kind"],
                      f["firstlineno"], f["code_len"], table,
                      len(f["table"]), ident, len(rs)))
    o.append("")
    o.append("static const struct lt_vector lt_vectors[] = {")
    o.extend(entries)
    o.append("};")
    o.append("")
    o.append("#endif /* __LINETABLE_VECTORS_H */")
    with open(path, "w") as fp:
        fp.write("\n".join(o) + "\n")


def main():
    if "--dump" in sys.argv[1:]:
        dump()
        return
    out = "tests/unit/linetable_vectors.h"
    if "-o" in sys.argv[1:]:
        out = sys.argv[sys.argv.index("-o") + 1]
    dumps = []
    for py in interpreters():
        if not os.access(py, os.X_OK):
            print("%s: not installed, skipped" % py, file=sys.stderr)
            continue
        res = subprocess.run([py, os.path.abspath(__file__), "--dump"],
                     stdout=subprocess.PIPE, check=True)
        d = json.loads(res.stdout.decode())
        print("%s: %s, %d code objects" % (py, d["version"], len(d["funcs"])),
              file=sys.stderr)
        dumps.append(d)
    write_header(dumps, out)
    print("wrote %s (%d bytes)" % (out, os.path.getsize(out)), file=sys.stderr)


if __name__ == "__main__":
    main()
