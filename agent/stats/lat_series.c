// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>
#include "stats/lat_series.h"

const double ls_quantiles[LS_N_QUANTILES] = { 0.5, 0.9, 0.95, 0.99, 0.999 };
const double ls_le_seconds[LS_N_LE] = { 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
					0.001,	 0.0025,   0.005,   0.01,   0.025,   0.05,
					0.1,	 0.25,	   0.5,	    1,	    2.5,     5,
					10 };

void lat_series__init(struct lat_series *se)
{
	memset(se, 0, sizeof(*se));
	hist__reset(&se->total);
	hist_window__init(&se->win);
}

static void count_error(struct lat_series *se, const char *word)
{
	int i;

	se->errors++;
	for (i = 0; i < se->n_errs; i++)
		if (!strcmp(se->errs[i].word, word))
			break;
	if (i == se->n_errs) {
		if (se->n_errs == LS_MAX_ERRS) {
			i = LS_MAX_ERRS;
			snprintf(se->errs[i].word, sizeof(se->errs[i].word), "%s", LS_OTHER);
		} else {
			snprintf(se->errs[i].word, sizeof(se->errs[i].word), "%s", word);
			se->n_errs++;
		}
	}
	se->errs[i].n++;
}

void lat_series__record(struct lat_series *se, uint64_t now_ns, uint64_t lat_ns, const char *error)
{
	if (error)
		count_error(se, error);
	else
		se->ok++;
	hist__record(&se->total, lat_ns);
	hist_window__record(&se->win, now_ns, lat_ns);
}

void lat_series__record_ok_n(struct lat_series *se, uint64_t now_ns, uint64_t lat_ns, uint32_t n)
{
	se->ok += n;
	hist__record_n(&se->total, lat_ns, n);
	hist_window__record_n(&se->win, now_ns, lat_ns, n);
}

void lat_series__snapshot(const struct lat_series *se, uint64_t now_ns, struct lat_snap *out,
			  struct hist *scratch)
{
	memset(out, 0, sizeof(*out));
	out->ok = se->ok;
	out->errors = se->errors;
	out->n_errs = se->n_errs + (se->errs[LS_MAX_ERRS].n ? 1 : 0);
	memcpy(out->errs, se->errs, sizeof(out->errs));
	if (se->errs[LS_MAX_ERRS].n)
		out->errs[se->n_errs] = se->errs[LS_MAX_ERRS];
	out->count = hist__count(&se->total);
	out->sum_ns = hist__sum(&se->total);
	for (int i = 0; i < LS_N_LE; i++)
		out->le[i] = hist__count_le(&se->total, (uint64_t)(ls_le_seconds[i] * 1e9 + 0.5));
	for (int i = 0; i < LS_N_QUANTILES; i++)
		out->q_total[i] = hist__quantile(&se->total, ls_quantiles[i]);
	hist__sparse(&se->total, &out->fine);
	hist_window__snapshot(&se->win, now_ns, scratch);
	out->win_count = hist__count(scratch);
	for (int i = 0; i < LS_N_QUANTILES; i++)
		out->q_win[i] = hist__quantile(scratch, ls_quantiles[i]);
}
