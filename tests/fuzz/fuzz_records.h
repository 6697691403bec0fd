/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The input shape the record-level fuzz targets share: a stream of ring-buffer records, each a
 * 2-byte length then the record, handed to conntrack as the ring buffer would.
 */
#ifndef NEXUS_FUZZ_RECORDS_H
#define NEXUS_FUZZ_RECORDS_H

#include <stdint.h>
#include <string.h>
#include "capture/conntrack.h"

static inline void fuzz_feed_records(struct conntrack *ct, const uint8_t *data, size_t size)
{
	/* Records are 8-byte aligned in the ring buffer; give the parser the same. */
	static uint64_t rec[(sizeof(struct nx_data_event) + NX_CHUNK_BYTES) / 8 + 1];

	while (size >= 2) {
		size_t n = data[0] | (size_t)data[1] << 8;

		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		if (n > sizeof(rec))
			n = sizeof(rec);
		memcpy(rec, data, n);
		/* Keep tgids above pid_max so the fuzzer does not read random processes' /proc. */
		if (n >= sizeof(struct nx_event_hdr))
			((struct nx_event_hdr *)rec)->tgid |= 1U << 23;
		conntrack__record(ct, rec, n);
		data += n;
		size -= n;
	}
}

#endif /* NEXUS_FUZZ_RECORDS_H */
