// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>
#include "capture/elf_syms.h"

int elf_syms__find(const char *path, const char *const *names, int n, bool *found)
{
	Elf_Scn *scn = NULL;
	Elf *elf = NULL;
	int fd, err = 0;

	for (int i = 0; i < n; i++)
		found[i] = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (elf_version(EV_CURRENT) == EV_NONE || !(elf = elf_begin(fd, ELF_C_READ, NULL)) ||
	    elf_kind(elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto cleanup;
	}
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
cleanup:
	if (elf)
		elf_end(elf);
	close(fd);
	return err;
}
