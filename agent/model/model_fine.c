// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The stats' sparse fine buckets (hist_sparse) as a model sample's midpoints and counts. */
#include "model/model_fill.h"

void model__fine(struct metric_model *m, const struct hist_sparse *fine)
{
	double mid[HIST_SPARSE_MAX];

	if (!fine || !fine->n)
		return;
	for (int i = 0; i < fine->n; i++)
		mid[i] = hist_sparse__mid_ns(fine, i) / 1e9;
	mm__histogram_exp(m, fine->n, mid, fine->count);
}
