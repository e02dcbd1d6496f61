#!/bin/sh
# Regenerate vmlinux/vmlinux.h from the running kernel's BTF.
# The checked-in header is what CO-RE compiles against; relocations adapt it
# to the kernel the tool later runs on.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
btf=${1:-/sys/kernel/btf/vmlinux}
bpftool btf dump file "$btf" format c > "$here/vmlinux/vmlinux.h.tmp"
mv "$here/vmlinux/vmlinux.h.tmp" "$here/vmlinux/vmlinux.h"
echo "wrote vmlinux/vmlinux.h from $btf"
