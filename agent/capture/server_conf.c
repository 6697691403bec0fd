// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
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

/* --- Redis ------------------------------------------------------------------------------------ */

int64_t server_conf__redis_bytes(const char *s)
{
	char *end;
	double v;
	uint64_t mul = 1;

	while (*s == ' ' || *s == '\t' || *s == '"' || *s == '\'')
		s++;
	v = strtod(s, &end);
	if (end == s || v < 0 || v > 1e18)
		return -1;
	if (!strncasecmp(end, "kb", 2))
		mul = 1024, end += 2;
	else if (!strncasecmp(end, "mb", 2))
		mul = 1024 * 1024, end += 2;
	else if (!strncasecmp(end, "gb", 2))
		mul = 1024ULL * 1024 * 1024, end += 2;
	else if (*end == 'k' || *end == 'K')
		mul = 1000, end++;
	else if (*end == 'm' || *end == 'M')
		mul = 1000 * 1000, end++;
	else if (*end == 'g' || *end == 'G')
		mul = 1000ULL * 1000 * 1000, end++;
	while (*end == '"' || *end == '\'')
		end++;
	if (*end && !isspace((unsigned char)*end))
		return -1;
	return (int64_t)(v * mul);
}

/* One directive: "maxclients 20000", "maxmemory 2gb" (others are ignored). */
static void redis_directive(const char *name, size_t nlen, const char *value, struct redis_conf *out)
{
	if (nlen == 10 && !strncasecmp(name, "maxclients", 10)) {
		int v = positive(value);

		if (v)
			out->maxclients = v;
	} else if (nlen == 9 && !strncasecmp(name, "maxmemory", 9)) {
		int64_t v = server_conf__redis_bytes(value);

		if (v >= 0)
			out->maxmemory = (uint64_t)v;
	}
}

void server_conf__parse_redis_text(const char *text, struct redis_conf *out)
{
	for (const char *line = text; line && *line;) {
		const char *next = strchr(line, '\n');
		const char *p = line, *name;
		char value[64];
		size_t nlen, n = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		name = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		nlen = p - name;
		while (*p == ' ' || *p == '\t')
			p++;
		while (n < sizeof(value) - 1 && p[n] && p[n] != '\n' && p[n] != '\r')
			value[n] = p[n], n++;
		value[n] = '\0';
		if (*name != '#')
			redis_directive(name, nlen, value, out);
		line = next ? next + 1 : NULL;
	}
}

void server_conf__redis(uint32_t pid, struct redis_conf *out)
{
	struct redis_conf file = { 0 }, args_conf = { 0 };
	char path[512], conf[256] = "";
	size_t len;
	char *args, *text;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	args = slurp(path, &len);
	/* redis-server [/path/to/redis.conf] [--name value ...]; the options win over the file */
	for (size_t o = 0; args && o < len; o += strlen(args + o) + 1) {
		const char *a = args + o, *next = o + strlen(a) + 1 < len ? a + strlen(a) + 1 : "";

		if (o == 0)
			continue; /* the executable */
		if (!strncmp(a, "--", 2))
			redis_directive(a + 2, strlen(a + 2), next, &args_conf);
		else if (!conf[0] && (a[0] == '/' || strstr(a, ".conf")))
			snprintf(conf, sizeof(conf), "%s", a);
	}
	free(args);
	if (conf[0]) {
		if (conf[0] == '/')
			snprintf(path, sizeof(path), "/proc/%u/root%s", pid, conf);
		else
			snprintf(path, sizeof(path), "/proc/%u/cwd/%s", pid, conf);
		text = slurp(path, &len);
		if (text)
			server_conf__parse_redis_text(text, &file);
		free(text);
	}
	out->maxclients = args_conf.maxclients ? args_conf.maxclients : file.maxclients;
	out->maxmemory = args_conf.maxmemory ? args_conf.maxmemory : file.maxmemory;
}

uint64_t server_conf__rss_bytes(uint32_t pid)
{
	char path[64];
	unsigned long size, resident;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%u/statm", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}
