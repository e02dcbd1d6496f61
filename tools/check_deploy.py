#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Static checks of deploy/ (make lint), with what Debian ships: PyYAML for the manifests'
structure, dpkg for the image's runtime packages, systemd-analyze for the unit.

    python3 tools/check_deploy.py [--binary pyleak-bpf] [--makefile Makefile] deploy

- Kubernetes manifests (*.yaml): every document has apiVersion, kind and metadata.name; a
  DaemonSet's selector matches its template's labels and it runs in the host's pid
  namespace; a Pod example shares its pid namespace; every volumeMount names a volume; the
  pyleak-bpf container drops ALL capabilities and adds exactly CAPS, is not privileged and
  cannot gain privileges; every option in its args is one `pyleak-bpf --help` documents,
  and its --serve port is a containerPort.
- Dockerfile: known instructions, both stages FROM debian:12, COPY --from names a stage,
  the runtime stage installs exactly the Makefile's RUNTIME_DEPS, which hold the Debian
  package of every DT_NEEDED library of the built binary; the ENTRYPOINT is what was
  copied.
- pyleak-bpf.service: systemd-analyze verify passes (on a copy whose ExecStart runs the
  built binary: verify wants an executable there), CapabilityBoundingSet is CAPS, every
  option of ExecStart is documented.
One line per problem on stderr, exit 1 if any.
"""
import argparse
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    sys.exit("check_deploy: needs PyYAML (Debian's python3-yaml, for /usr/bin/python3)")

# The capabilities measured to be needed (user/caps.h, README "Deploying").
CAPS = {"BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH", "CHECKPOINT_RESTORE"}
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}

problems = []


def bad(where, what):
    problems.append("%s: %s" % (where, what))


def help_options(binary):
    out = subprocess.run([os.path.abspath(binary), "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=30).stdout
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", out))


def check_args(where, args, documented):
    for a in args:
        if a.startswith("-") and a != "--":
            opt = a.split("=", 1)[0]
            if opt not in documented:
                bad(where, "option %s is not in pyleak-bpf --help" % opt)


def serve_port(args):
    for i, a in enumerate(args):
        if a == "--serve" and i + 1 < len(args):
            return int(args[i + 1].rsplit(":", 1)[-1])
    return None


# ---------------------------------------------------------------------------------------
# Kubernetes

def pod_spec(doc):
    kind = doc.get("kind")
    if kind == "Pod":
        return doc.get("spec") or {}
    if kind in ("DaemonSet", "Deployment", "StatefulSet"):
        return ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    return None


def check_manifest(path, documented):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    if not docs:
        bad(path, "no document")
    for n, doc in enumerate(docs):
        where = "%s[%d]" % (path, n)
        for key in ("apiVersion", "kind"):
            if not isinstance(doc.get(key), str):
                bad(where, "no %s" % key)
        if not (doc.get("metadata") or {}).get("name"):
            bad(where, "no metadata.name")
        kind = doc.get("kind")
        spec = pod_spec(doc)
        if spec is None:
            continue
        where = "%s %s/%s" % (path, kind, doc["metadata"].get("name"))
        if kind == "DaemonSet":
            sel = ((doc["spec"].get("selector") or {}).get("matchLabels") or {})
            labels = ((doc["spec"]["template"].get("metadata") or {}).get("labels") or {})
            if not sel or any(labels.get(k) != v for k, v in sel.items()):
                bad(where, "selector %s does not match the template's labels %s" % (sel, labels))
            if spec.get("hostPID") is not True:
                bad(where, "hostPID is not true: the agent must see every process of the node")
        if kind == "Pod" and spec.get("shareProcessNamespace") is not True:
            bad(where, "shareProcessNamespace is not true: the sidecar would see only itself")
        volumes = {v.get("name") for v in spec.get("volumes") or []}
        tracers = 0
        for c in spec.get("containers") or []:
            cw = "%s container %s" % (where, c.get("name"))
            if not c.get("name") or not c.get("image"):
                bad(cw, "no name or image")
            for m in c.get("volumeMounts") or []:
                if m.get("name") not in volumes:
                    bad(cw, "volumeMount %s names no volume" % m.get("name"))
            if "pyleak-bpf" not in str(c.get("image")):
                continue
            tracers += 1
            sc = c.get("securityContext") or {}
            caps = sc.get("capabilities") or {}
            if caps.get("drop") != ["ALL"]:
                bad(cw, "capabilities.drop is %s, not [ALL]" % caps.get("drop"))
            if set(caps.get("add") or []) != CAPS:
                bad(cw, "capabilities.add is %s, not exactly %s" % (sorted(caps.get("add") or []),
                                                                   sorted(CAPS)))
            if sc.get("privileged") is not False or sc.get("allowPrivilegeEscalation") is not False:
                bad(cw, "privileged and allowPrivilegeEscalation must both be false")
            if sc.get("runAsUser") != 0:
                bad(cw, "runAsUser is not 0 (capabilities are not ambient for another user)")
            args = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
            check_args(cw, args, documented)
            port = serve_port(args)
            ports = {p.get("containerPort") for p in c.get("ports") or []}
            if port is not None and port not in ports:
                bad(cw, "--serve port %d is not a containerPort (%s)" % (port, sorted(ports)))
        if not tracers:
            bad(where, "no pyleak-bpf container")


# ---------------------------------------------------------------------------------------
# Dockerfile

def dockerfile_instructions(path):
    out, cur = [], ""
    with open(path) as f:
        for no, line in enumerate(f, 1):
            s = line.rstrip("\n")
            if not cur and (not s.strip() or s.lstrip().startswith("#")):
                continue
            if cur and s.lstrip().startswith("#"):
                continue        # a comment inside a continued instruction
            cur += s[:-1] + " " if s.endswith("\\") else s
            if not s.endswith("\\"):
                word, _, rest = cur.strip().partition(" ")
                out.append((no, word.upper(), rest.strip()))
                cur = ""
    if cur:
        bad(path, "the last instruction ends with a continuation")
    return out


def makefile_list(makefile, name):
    text = open(makefile).read().replace("\\\n", " ")
    m = re.search(r"^%s\s*:=(.*)$" % re.escape(name), text, re.M)
    return m.group(1).split() if m else None


def needed_packages(binary):
    """Debian packages of the binary's DT_NEEDED libraries (libc6 excluded: the base)."""
    dyn = subprocess.run(["readelf", "-d", binary], stdout=subprocess.PIPE, universal_newlines=True).stdout
    libs = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
    ldd = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, universal_newlines=True).stdout
    where = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    pkgs = {}
    for lib in libs:
        path = where.get(lib)
        if not path:
            bad(binary, "%s is not found by ldd" % lib)
            continue
        owner = None
        for cand in (path, os.path.realpath(path), path.replace("/lib/", "/usr/lib/", 1)):
            r = subprocess.run(["dpkg", "-S", cand], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               universal_newlines=True)
            if r.returncode == 0:
                owner = r.stdout.split(":", 1)[0]
                break
        if owner is None:
            bad(binary, "no Debian package owns %s (%s)" % (lib, path))
        elif owner != "libc6":
            pkgs[lib] = owner
    return pkgs


def check_dockerfile(path, makefile, binary):
    ins = dockerfile_instructions(path)
    stages, stage, runtime_pkgs, copied, entry = [], None, None, {}, None
    for no, word, rest in ins:
        where = "%s:%d" % (path, no)
        if word not in INSTRUCTIONS:
            bad(where, "unknown instruction %s" % word)
        if word == "FROM":
            m = re.match(r"^(\S+)(?:\s+AS\s+(\S+))?$", rest, re.I)
            if not m:
                bad(where, "FROM %r" % rest)
                continue
            if m.group(1) != "debian:12":
                bad(where, "FROM %s, not debian:12" % m.group(1))
            stage = m.group(2) or "stage%d" % len(stages)
            stages.append(stage)
            runtime_pkgs = None
        elif word == "COPY":
            parts = shlex.split(rest)
            src = [p for p in parts if p.startswith("--from=")]
            if src and src[0].split("=", 1)[1] not in stages[:-1]:
                bad(where, "COPY %s names no earlier stage (%s)" % (src[0], stages[:-1]))
            files = [p for p in parts if not p.startswith("--")]
            if len(files) >= 2:
                copied[files[-1]] = files[0]
        elif word == "RUN" and "apt-get install" in rest and stage == stages[-1]:
            m = re.search(r"apt-get install((?:\s+(?!&&)\S+)+)", rest)
            runtime_pkgs = [p for p in (m.group(1).split() if m else []) if not p.startswith("-")]
        elif word == "ENTRYPOINT":
            try:
                entry = yaml.safe_load(rest)
            except yaml.YAMLError:
                entry = None
            if not isinstance(entry, list) or not entry:
                bad(where, "ENTRYPOINT is not an exec-form list: %s" % rest)
                entry = None
    if len(stages) != 2:
        bad(path, "%d stages, expected a build and a runtime stage" % len(stages))
    want = makefile_list(makefile, "RUNTIME_DEPS")
    if want is None:
        bad(makefile, "no RUNTIME_DEPS")
    elif runtime_pkgs is None:
        bad(path, "the runtime stage installs no packages")
    elif sorted(runtime_pkgs) != sorted(want):
        bad(path, "the runtime stage installs %s, the Makefile's RUNTIME_DEPS are %s" % (
            sorted(runtime_pkgs), sorted(want)))
    if want is not None and binary:
        for lib, pkg in sorted(needed_packages(binary).items()):
            if pkg not in want:
                bad(makefile, "RUNTIME_DEPS lack %s (%s, needed by %s)" % (pkg, lib, binary))
    if entry and entry[0] not in copied:
        bad(path, "ENTRYPOINT %s is not a file the runtime stage copies (%s)" % (entry[0], sorted(copied)))
    for name in ("BUILD_DEPS",):
        if makefile_list(makefile, name) is None:
            bad(makefile, "no %s (the build stage's make deps-build)" % name)


# ---------------------------------------------------------------------------------------
# systemd

def check_unit(path, binary, documented):
    keys = {}
    with open(path) as f:
        for line in f:
            if "=" in line and not line.lstrip().startswith(("#", ";")):
                k, v = line.rstrip("\n").split("=", 1)
                keys.setdefault(k.strip(), []).append(v.strip())
    start = keys.get("ExecStart", [""])[-1]
    argv = shlex.split(start)
    if not argv:
        bad(path, "no ExecStart")
        return
    check_args(path, argv[1:], documented)
    caps = set(" ".join(keys.get("CapabilityBoundingSet", [])).split())
    if caps != {"CAP_" + c for c in CAPS}:
        bad(path, "CapabilityBoundingSet is %s, not exactly %s" % (sorted(caps), sorted("CAP_" + c for c in CAPS)))
    if not shutil.which("systemd-analyze"):
        bad(path, "systemd-analyze not installed (Debian's systemd)")
        return
    tmp = tempfile.mkdtemp(prefix="pyleak-unit-")
    try:
        copy = os.path.join(tmp, os.path.basename(path))
        text = open(path).read().replace("ExecStart=" + argv[0], "ExecStart=" + os.path.abspath(binary), 1)
        with open(copy, "w") as f:
            f.write(text)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", copy], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
        # verify loads the host's units too: only lines about this unit count
        mine = [l for l in r.stdout.splitlines() if os.path.basename(path) in l or copy in l]
        if r.returncode != 0 or mine:
            bad(path, "systemd-analyze verify: %s" % (" | ".join(mine or r.stdout.splitlines()[-3:])))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default="pyleak-bpf", help="the built tool (--help, DT_NEEDED)")
    ap.add_argument("--makefile", default="Makefile")
    ap.add_argument("dir", nargs="?", default="deploy")
    opts = ap.parse_args()
    if not os.access(opts.binary, os.X_OK):
        print("check_deploy: %s is not built (make)" % opts.binary, file=sys.stderr)
        return 1
    documented = help_options(opts.binary)
    manifests = sorted(p for p in glob.glob(os.path.join(opts.dir, "*.yaml"))
                       if os.path.basename(p) != "yamllint.yaml")
    for p in manifests:
        check_manifest(p, documented)
    check_dockerfile(os.path.join(opts.dir, "Dockerfile"), opts.makefile, opts.binary)
    check_unit(os.path.join(opts.dir, "pyleak-bpf.service"), opts.binary, documented)
    for p in problems:
        print("check_deploy: " + p, file=sys.stderr)
    if not problems:
        print("check_deploy: %d manifests, Dockerfile, pyleak-bpf.service: ok" % len(manifests))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
