// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "elffile.h"
#include "procmaps.h"

int elf__open(struct elf_file *ef, const char *path)
{
	memset(ef, 0, sizeof(*ef));
	ef->fd = -1;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	/* Paths come from the target (maps, its root): a regular file only,
	 * opened without blocking. */
	ef->fd = proc__open_regular(path);
	if (ef->fd < 0)
		return ef->fd;
	ef->elf = elf_begin(ef->fd, ELF_C_READ_MMAP, NULL);
	if (!ef->elf || elf_kind(ef->elf) != ELF_K_ELF || !gelf_getehdr(ef->elf, &ef->ehdr) ||
	    ef->ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ef->ehdr.e_machine != EM_X86_64) {
		elf__close(ef);
		return -ENOEXEC;
	}
	snprintf(ef->path, sizeof(ef->path), "%s", path);
	return 0;
}

void elf__close(struct elf_file *ef)
{
	if (ef->elf)
		elf_end(ef->elf);
	if (ef->fd >= 0)
		close(ef->fd);
	ef->elf = NULL;
	ef->fd = -1;
}

static int find_in(struct elf_file *ef, Elf64_Word type, const char *name,
		   uint64_t *vaddr, uint64_t *size)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		Elf_Data *data;
		size_t i, n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (i = 0; i < n; i++) {
			GElf_Sym sym;
			const char *s;

			if (!gelf_getsym(data, i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			s = elf_strptr(ef->elf, sh.sh_link, sym.st_name);
			if (!s || strcmp(s, name))
				continue;
			if (vaddr)
				*vaddr = sym.st_value;
			if (size)
				*size = sym.st_size;
			return 0;
		}
	}
	return -ENOENT;
}

int elf__symbol(struct elf_file *ef, const char *name, uint64_t *vaddr, uint64_t *size)
{
	if (!find_in(ef, SHT_DYNSYM, name, vaddr, size))
		return 0;
	return find_in(ef, SHT_SYMTAB, name, vaddr, size);
}

bool elf__exports(struct elf_file *ef, const char *name)
{
	return !find_in(ef, SHT_DYNSYM, name, NULL, NULL);
}

int elf__vaddr_to_off(struct elf_file *ef, uint64_t vaddr, uint64_t *off)
{
	size_t i, n;

	if (elf_getphdrnum(ef->elf, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(ef->elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -ENOENT;
}

ssize_t elf__read(struct elf_file *ef, uint64_t vaddr, void *buf, size_t n)
{
	uint64_t off;
	ssize_t r;

	if (elf__vaddr_to_off(ef, vaddr, &off))
		return -ENOENT;
	r = pread(ef->fd, buf, n, off);
	return r < 0 ? -errno : r;
}

int elf__section(struct elf_file *ef, const char *name, uint64_t *vaddr, uint64_t *size)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;

	if (elf_getshdrstrndx(ef->elf, &shstrndx))
		return -EINVAL;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		const char *s;

		if (!gelf_getshdr(scn, &sh))
			continue;
		s = elf_strptr(ef->elf, shstrndx, sh.sh_name);
		if (s && !strcmp(s, name)) {
			*vaddr = sh.sh_addr;
			*size = sh.sh_size;
			return 0;
		}
	}
	return -ENOENT;
}

uint64_t elf__first_load(struct elf_file *ef)
{
	size_t i, n;

	if (elf_getphdrnum(ef->elf, &n))
		return 0;
	for (i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(ef->elf, i, &ph) && ph.p_type == PT_LOAD)
			return ph.p_vaddr - ph.p_offset;
	}
	return 0;
}

int elf__dynamic(struct elf_file *ef, int64_t tag, const char **out, int max)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int n = 0;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		Elf_Data *data;
		size_t i;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		for (i = 0; data && i < sh.sh_size / sh.sh_entsize && n < max; i++) {
			GElf_Dyn dyn;
			const char *s;

			if (!gelf_getdyn(data, i, &dyn) || dyn.d_tag != tag)
				continue;
			s = elf_strptr(ef->elf, sh.sh_link, dyn.d_un.d_val);
			if (s)
				out[n++] = s;
		}
	}
	return n;
}

const char *elf__soname(struct elf_file *ef)
{
	const char *so;

	return elf__dynamic(ef, DT_SONAME, &so, 1) == 1 ? so : NULL;
}
