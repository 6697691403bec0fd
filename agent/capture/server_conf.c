// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "capture/server_conf.h"

#define CONF_MAX (1 << 20) /* configuration files larger than this are not read */

/* Reads a whole (small) file; NULL when it cannot. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;

	if (!f)
		return NULL;
	buf = malloc(CONF_MAX + 1);
	if (buf) {
		*len = fread(buf, 1, CONF_MAX, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/* A positive integer, all of s; 0 otherwise. */
static int positive(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return end != s && (*end == '\0' || isspace((unsigned char)*end)) && v > 0 && v < 1 << 24
		       ? (int)v
		       : 0;
}

int server_conf__parse_pg_int(const char *text, const char *name)
{
	size_t nlen = strlen(name);
	int found = 0;

	for (const char *line = text; line && *line;) {
		const char *next = strchr(line, '\n');
		const char *p = line;
		char val[32];
		size_t n = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		/* name [=] value [# comment]; quotes allowed around the value */
		if (!strncasecmp(p, name, nlen) && (p[nlen] == ' ' || p[nlen] == '\t' ||
						    p[nlen] == '=')) {
			p += nlen;
			while (*p == ' ' || *p == '\t' || *p == '=')
				p++;
			if (*p == '\'')
				p++;
			while (n < sizeof(val) - 1 && isdigit((unsigned char)p[n]))
				val[n] = p[n], n++;
			val[n] = '\0';
			if (positive(val))
				found = positive(val);
		}
		line = next ? next + 1 : NULL;
	}
	return found;
}

static int from_file(const char *path)
{
	size_t len;
	char *text = slurp(path, &len);
	int v = text ? server_conf__parse_pg_int(text, "max_connections") : 0;

	free(text);
	return v;
}

int server_conf__pg_max_connections(uint32_t pid)
{
	char path[512], config_file[256] = "";
	size_t len;
	char *args;
	int v = 0;

	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	args = slurp(path, &len);
	/* The command line wins over the files: -N 200, -c max_connections=200, --max_connections=200 */
	for (size_t o = 0; args && o < len; o += strlen(args + o) + 1) {
		const char *a = args + o, *next = o + strlen(a) + 1 < len ? a + strlen(a) + 1 : "";

		if (!strcmp(a, "-N"))
			v = positive(next) ? positive(next) : v;
		else if (!strcmp(a, "-c") && !strncmp(next, "max_connections=", 16))
			v = positive(next + 16) ? positive(next + 16) : v;
		else if (!strncmp(a, "--max_connections=", 18) || !strncmp(a, "--max-connections=", 18))
			v = positive(a + 18) ? positive(a + 18) : v;
		else if (!strcmp(a, "-c") && !strncmp(next, "config_file=", 12))
			snprintf(config_file, sizeof(config_file), "%s", next + 12);
	}
	free(args);
	if (v)
		return v;
	/* The postmaster's working directory is its data directory. */
	snprintf(path, sizeof(path), "/proc/%u/cwd/postgresql.auto.conf", pid);
	if ((v = from_file(path)))
		return v;
	if (config_file[0] == '/')
		snprintf(path, sizeof(path), "/proc/%u/root%s", pid, config_file);
	else
		snprintf(path, sizeof(path), "/proc/%u/cwd/%s", pid,
			 config_file[0] ? config_file : "postgresql.conf");
	return from_file(path);
}
