/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Writes metric families in the Prometheus text format (0.0.4) or OpenMetrics 1.0, whichever the
 * scraper asked for: the two differ in the content type, counter family names and the # EOF line.
 */
#ifndef NEXUS_PROM_H
#define NEXUS_PROM_H

#include <stdbool.h>
#include <stdio.h>
#include "model/metric_model.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define OPENMETRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Room for one sample's label list; longer lists are cut (the values are capped upstream). */
#define PROM_LABELS_LEN 2048

struct prom {
	FILE *f;
	bool openmetrics;
};

/* Whether an Accept header prefers OpenMetrics. */
bool prom__wants_openmetrics(const char *accept);
/* HELP and TYPE of a family. For a counter, name ends in _total. */
void prom__family(struct prom *p, const char *name, const char *type, const char *help);
/* One sample; labels is a preformatted label list without braces (see prom__label), or NULL. */
void prom__sample(struct prom *p, const char *name, const char *labels, double value);
/* Appends name="value" (escaped, comma-separated from what precedes) to a label buffer. */
void prom__label(char *buf, size_t len, const char *name, const char *value);
/* Every family of a model, in its order. */
void prom__render_model(struct prom *p, const struct metric_model *m);
/* Ends the exposition (OpenMetrics' # EOF). */
void prom__end(struct prom *p);

#endif /* NEXUS_PROM_H */
