/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which functions the loaded program imports: a walk over the dynamic
 * relocations of every object mapped in this process (dl_iterate_phdr).
 * mpi/init.c asks it, before MPI starts, whether anything calls a window
 * creation function: only then does MPI need MPI_THREAD_MULTIPLE for the
 * one-sided applier thread (mpi/rma.c), which costs every message.
 *
 * An imported function always has a relocation naming it (JUMP_SLOT for
 * a call through the PLT, GLOB_DAT for its address), whatever the
 * binding (lazy or -z now); a definition inside the object has none.
 */
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core.h"

/* ELF64_R_SYM or ELF32_R_SYM, as this process's class */
#if __ELF_NATIVE_CLASS == 64
#define REL_SYM(info) ELF64_R_SYM(info)
#else
#define REL_SYM(info) ELF32_R_SYM(info)
#endif

struct scan {
	const char *const *prefixes;	/* symbol names, any case */
	const char *const *skip;	/* object basenames */
	char *found;
	size_t len;
};

static int
matches(const char *name, const char *const *prefixes)
{
	for (; *prefixes != NULL; prefixes++)
		if (strncasecmp(name, *prefixes, strlen(*prefixes)) == 0)
			return 1;
	return 0;
}

static int
skipped(const char *path, const char *const *skip)
{
	const char *base = strrchr(path, '/');

	base = base != NULL ? base + 1 : path;
	if (strncmp(base, "linux-vdso", 10) == 0)
		return 1;
	for (; *skip != NULL; skip++)
		if (strncmp(base, *skip, strlen(*skip)) == 0)
			return 1;
	return 0;
}

/* ld.so relocates the pointers of a writable dynamic section in place;
 * those of a read-only one are still offsets. */
static uintptr_t
addr_of(const struct dl_phdr_info *info, ElfW(Addr) p)
{
	return p < info->dlpi_addr ? info->dlpi_addr + p : p;
}

/* One table of relocations (n bytes, entries of ent bytes). */
static int
scan_relocs(const struct scan *s, const char *obj, uintptr_t rel,
    size_t n, size_t ent, const ElfW(Sym) *sym, const char *str)
{
	size_t off;

	if (rel == 0 || ent == 0)
		return 0;
	for (off = 0; off + ent <= n; off += ent) {
		/* r_info sits after r_offset in Rel and Rela alike */
		const ElfW(Rel) *r = (const ElfW(Rel) *)(rel + off);
		size_t i = REL_SYM(r->r_info);
		const char *name;

		if (i == 0)
			continue;
		name = str + sym[i].st_name;
		if (sym[i].st_shndx == SHN_UNDEF &&
		    matches(name, s->prefixes)) {
			snprintf(s->found, s->len, "%s imports %s",
			    *obj != '\0' ? obj : "the program", name);
			return 1;
		}
	}
	return 0;
}

static int
scan_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	const struct scan *s = arg;
	const ElfW(Dyn) *d = NULL;
	const ElfW(Sym) *sym = NULL;
	const char *str = NULL;
	uintptr_t rela = 0, rel = 0, jmprel = 0;
	size_t relasz = 0, relaent = sizeof(ElfW(Rela)), relsz = 0,
	    relent = sizeof(ElfW(Rel)), pltsz = 0, pltent = relaent;
	int i;

	(void)size;
	if (skipped(info->dlpi_name, s->skip))
		return 0;
	for (i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			d = (const ElfW(Dyn) *)(info->dlpi_addr +
			    info->dlpi_phdr[i].p_vaddr);
	if (d == NULL)
		return 0;
	for (; d->d_tag != DT_NULL; d++) {
		switch (d->d_tag) {
		case DT_SYMTAB:
			sym = (const ElfW(Sym) *)addr_of(info, d->d_un.d_ptr);
			break;
		case DT_STRTAB:
			str = (const char *)addr_of(info, d->d_un.d_ptr);
			break;
		case DT_RELA: rela = addr_of(info, d->d_un.d_ptr); break;
		case DT_RELASZ: relasz = d->d_un.d_val; break;
		case DT_RELAENT: relaent = d->d_un.d_val; break;
		case DT_REL: rel = addr_of(info, d->d_un.d_ptr); break;
		case DT_RELSZ: relsz = d->d_un.d_val; break;
		case DT_RELENT: relent = d->d_un.d_val; break;
		case DT_JMPREL: jmprel = addr_of(info, d->d_un.d_ptr); break;
		case DT_PLTRELSZ: pltsz = d->d_un.d_val; break;
		case DT_PLTREL:
			pltent = d->d_un.d_val == DT_RELA ?
			    sizeof(ElfW(Rela)) : sizeof(ElfW(Rel));
			break;
		}
	}
	if (sym == NULL || str == NULL)
		return 0;
	return scan_relocs(s, info->dlpi_name, jmprel, pltsz, pltent, sym,
	    str) || scan_relocs(s, info->dlpi_name, rela, relasz, relaent,
	    sym, str) || scan_relocs(s, info->dlpi_name, rel, relsz, relent,
	    sym, str);
}

int
esmpi_imports_any(const char *const *prefixes, const char *const *skip,
    char *found, size_t len)
{
	struct scan s = { prefixes, skip, found, len };

	if (len > 0)
		found[0] = '\0';
	return dl_iterate_phdr(scan_object, &s) != 0;
}
