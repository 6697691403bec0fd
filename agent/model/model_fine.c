// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The stats' sparse fine buckets (hist_sparse) as a model sample's midpoints and counts. */
#include "model/model_fill.h"

void model__fine(struct metric_model *m, const struct hist_sparse *fine)
{
	double lo[HIST_SPARSE_MAX], hi[HIST_SPARSE_MAX];

	if (!fine || !fine->n)
		return;
	for (int i = 0; i < fine->n; i++) {
		uint64_t l, h;

		hist_sparse__range_ns(fine, i, &l, &h);
		lo[i] = l / 1e9;
		hi[i] = h / 1e9;
	}
	mm__histogram_exp(m, fine->n, lo, hi, fine->count);
}
