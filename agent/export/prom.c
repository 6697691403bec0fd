// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include <string.h>
#include "export/prom.h"

bool prom__wants_openmetrics(const char *accept)
{
	return accept && strstr(accept, "application/openmetrics-text") != NULL;
}

void prom__family(struct prom *p, const char *name, const char *type, const char *help)
{
	size_t n = strlen(name);

	/* OpenMetrics names the counter family without the _total its samples carry. */
	if (p->openmetrics && !strcmp(type, "counter") && n > 6 && !strcmp(name + n - 6, "_total"))
		n -= 6;
	fprintf(p->f, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)n, name, help, (int)n, name, type);
}

void prom__sample(struct prom *p, const char *name, const char *labels, double value)
{
	fprintf(p->f, "%s", name);
	if (labels && *labels)
		fprintf(p->f, "{%s}", labels);
	if (isnan(value))
		fprintf(p->f, " NaN\n");
	else if (isinf(value))
		fprintf(p->f, value > 0 ? " +Inf\n" : " -Inf\n");
	else if (value == (double)(long long)value && fabs(value) < 1e15)
		fprintf(p->f, " %lld\n", (long long)value);
	else
		fprintf(p->f, " %.15g\n", value);
}

void prom__label(char *buf, size_t len, const char *name, const char *value)
{
	size_t o = strlen(buf);

	if (o && o + 1 < len)
		buf[o++] = ',';
	o += snprintf(buf + o, o < len ? len - o : 0, "%s=\"", name);
	for (; *value && o + 3 < len; value++) {
		/* The text format escapes exactly these three in label values. */
		if (*value == '\\' || *value == '"') {
			buf[o++] = '\\';
			buf[o++] = *value;
		} else if (*value == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *value;
		}
	}
	if (o + 1 < len) {
		buf[o++] = '"';
		buf[o] = '\0';
	} else if (len) {
		buf[len - 1] = '\0';
	}
}

void prom__end(struct prom *p)
{
	if (p->openmetrics)
		fprintf(p->f, "# EOF\n");
}
