/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Which function symbols an executable exports: what uprobes on it could attach to. */
#ifndef NEXUS_ELF_SYMS_H
#define NEXUS_ELF_SYMS_H

#include <stdbool.h>

/* Sets found[i] for each names[i] defined as a function in path's .symtab or .dynsym.
 * Returns 0, or -errno when the file is not a readable ELF. */
int elf_syms__find(const char *path, const char *const *names, int n, bool *found);

/* Sets found[i] for each USDT probe provider:names[i] in path's stapsdt notes (SystemTap SDT).
 * Returns 0, or -errno when the file is not a readable ELF. */
int elf_syms__find_usdt(const char *path, const char *provider, const char *const *names, int n,
			bool *found);

#endif /* NEXUS_ELF_SYMS_H */
