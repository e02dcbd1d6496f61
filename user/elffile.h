/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* ELF files of the target: symbols, sections, bytes at a virtual address. */
#ifndef __ELFFILE_H
#define __ELFFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <gelf.h>

struct elf_file {
	int fd;
	Elf *elf;
	GElf_Ehdr ehdr;
	char path[4096];
};

int elf__open(struct elf_file *ef, const char *path);
void elf__close(struct elf_file *ef);
/* A defined symbol by name: .dynsym first, then .symtab. -ENOENT if absent. */
int elf__symbol(struct elf_file *ef, const char *name, uint64_t *vaddr, uint64_t *size);
/* True if name is exported in .dynsym (defined). */
bool elf__exports(struct elf_file *ef, const char *name);
/* File offset of a virtual address inside a PT_LOAD segment's file part. */
int elf__vaddr_to_off(struct elf_file *ef, uint64_t vaddr, uint64_t *off);
/* Read up to n bytes at vaddr from the file; returns bytes read or -errno. */
ssize_t elf__read(struct elf_file *ef, uint64_t vaddr, void *buf, size_t n);
/* A section by name. */
int elf__section(struct elf_file *ef, const char *name, uint64_t *vaddr, uint64_t *size);
/* Lowest PT_LOAD p_vaddr - p_offset: subtract from the start of the
 * offset-0 mapping to get the load bias. */
uint64_t elf__first_load(struct elf_file *ef);
/* The strings of the .dynamic entries with this tag (DT_NEEDED, DT_RUNPATH,
 * ...), at most max; returns how many. */
int elf__dynamic(struct elf_file *ef, int64_t tag, const char **out, int max);
/* DT_SONAME, or NULL. */
const char *elf__soname(struct elf_file *ef);

#endif /* __ELFFILE_H */
