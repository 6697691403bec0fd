/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One latency series: calls by outcome (ok, or an error word such as WRONGTYPE or a SQLSTATE
 * class), a histogram since start and one over the last minute. What Redis commands and
 * PostgreSQL queries both are; their statistics modules key series by their own labels.
 */
#ifndef NEXUS_LAT_SERIES_H
#define NEXUS_LAT_SERIES_H

#include <stdint.h>
#include "stats/hist.h"
#include "util.h"

#define LS_MAX_ERRS 8	 /* error words per series; the rest count as "(other)" */
#define LS_ERR_LEN 24
#define LS_N_QUANTILES 5 /* p50 p90 p95 p99 p99.9 */
#define LS_N_LE 19	 /* Prometheus buckets, 10 us .. 10 s */
#define LS_OTHER NX_OTHER

/* Indices of the quantiles in lat_snap.q_total and q_win. */
enum ls_quantile { LS_P50 = 0, LS_P90, LS_P95, LS_P99, LS_P999 };

extern const double ls_quantiles[LS_N_QUANTILES];
extern const double ls_le_seconds[LS_N_LE];

struct ls_err {
	char word[LS_ERR_LEN];
	uint64_t n;
};

struct lat_series {
	uint64_t ok;
	struct ls_err errs[LS_MAX_ERRS + 1]; /* [LS_MAX_ERRS] is "(other)" */
	int n_errs;
	uint64_t errors;
	struct hist total;
	struct hist_window win;
};

/* What readers get: counts, Prometheus buckets and quantiles (ns), since start and windowed. */
struct lat_snap {
	uint64_t ok;
	struct ls_err errs[LS_MAX_ERRS + 1]; /* "(other)" last when used */
	int n_errs;
	uint64_t errors;
	uint64_t count, sum_ns;
	uint64_t le[LS_N_LE]; /* cumulative counts at ls_le_seconds */
	uint64_t q_total[LS_N_QUANTILES];
	uint64_t win_count;
	uint64_t q_win[LS_N_QUANTILES];
	struct hist_sparse fine; /* the since-start histogram's non-empty buckets (OTLP) */
};

void lat_series__init(struct lat_series *se);
/* One call that took lat_ns, at now_ns; error NULL for success, else its word. */
void lat_series__record(struct lat_series *se, uint64_t now_ns, uint64_t lat_ns, const char *error);
/* n successful calls that each took lat_ns (a pipeline answered at once). */
void lat_series__record_ok_n(struct lat_series *se, uint64_t now_ns, uint64_t lat_ns, uint32_t n);
/* scratch: a struct hist the caller lends (too big for the stack of every caller). */
void lat_series__snapshot(const struct lat_series *se, uint64_t now_ns, struct lat_snap *out,
			  struct hist *scratch);

#endif /* NEXUS_LAT_SERIES_H */
