// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>
#include "capture/elf_syms.h"

/* Opens path as ELF; -errno on failure (then nothing is left open). */
static int elf_open(const char *path, int *fd, Elf **elf)
{
	*elf = NULL;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	if (elf_version(EV_CURRENT) == EV_NONE || !(*elf = elf_begin(*fd, ELF_C_READ, NULL)) ||
	    elf_kind(*elf) != ELF_K_ELF) {
		if (*elf)
			elf_end(*elf);
		close(*fd);
		return -ENOEXEC;
	}
	return 0;
}

int elf_syms__find(const char *path, const char *const *names, int n, bool *found)
{
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd, err;

	for (int i = 0; i < n; i++)
		found[i] = false;
	err = elf_open(path, &fd, &elf);
	if (err)
		return err;
	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data = NULL;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		while ((data = elf_getdata(scn, data))) {
			size_t count = sh.sh_entsize ? data->d_size / sh.sh_entsize : 0;

			for (size_t k = 0; k < count; k++) {
				GElf_Sym sym;
				const char *name;

				if (!gelf_getsym(data, (int)k, &sym) ||
				    GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF)
					continue;
				name = elf_strptr(elf, sh.sh_link, sym.st_name);
				for (int i = 0; name && i < n; i++)
					if (!found[i] && !strcmp(name, names[i]))
						found[i] = true;
			}
		}
	}
	elf_end(elf);
	close(fd);
	return 0;
}

int elf_syms__find_usdt(const char *path, const char *provider, const char *const *names, int n,
			bool *found)
{
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd, err;

	for (int i = 0; i < n; i++)
		found[i] = false;
	err = elf_open(path, &fd, &elf);
	if (err)
		return err;
	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		GElf_Shdr sh;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE || !(data = elf_getdata(scn, NULL)))
			continue;
		while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			const char *owner = (const char *)data->d_buf + name_off;
			const char *desc = (const char *)data->d_buf + desc_off;
			size_t addr = gelf_getclass(elf) == ELFCLASS32 ? 4 : 8;
			const char *prov, *name, *end = desc + nh.n_descsz;

			/* Note type 3: pc, base and semaphore addresses, then provider\0name\0args\0. */
			if (nh.n_type != 3 || nh.n_namesz != 8 || memcmp(owner, "stapsdt", 8) ||
			    nh.n_descsz < 3 * addr + 2)
				continue;
			prov = desc + 3 * addr;
			name = memchr(prov, 0, end - prov);
			if (!name || ++name >= end || !memchr(name, 0, end - name) || strcmp(prov, provider))
				continue;
			for (int i = 0; i < n; i++)
				if (!found[i] && !strcmp(name, names[i]))
					found[i] = true;
		}
	}
	elf_end(elf);
	close(fd);
	return 0;
}
