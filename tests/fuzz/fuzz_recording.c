// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: a recording whose one block holds arbitrary bytes (its type and entry count
 * from the first 8, the payload from the rest), with valid CRCs, so the fuzzer reaches the entry
 * walk past them; and the same bytes raw after the header. A file someone hands to replay may be
 * cut, corrupt or hostile: the reader must end with an error or the end block, and never read
 * outside what it checked.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "capture/recording.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct rec_file_hdr h = {};
	struct rec_writer *w;
	struct rec_reader *r;
	struct rec_entry e;
	char err[256];
	FILE *f;
	long n = 0;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/nx-fuzz-recording-%d", (int)getpid());
	/* a valid header from the writer, then the fuzzer's bytes as the blocks */
	w = rec_writer__open(path, &h);
	if (!w)
		return 0;
	rec_writer__close(w, 0, NULL, 0);
	if (truncate(path, sizeof(struct rec_file_hdr)))
		return 0;
	f = fopen(path, "ab");
	if (!f)
		return 0;
	if (size >= 8 && size - 8 <= REC_BLOCK_RAW_MAX) {
		static uint8_t comp[REC_BLOCK_RAW_MAX + 4096];
		struct rec_block_hdr bh = { .magic = REC_BLOCK_MAGIC };
		uLongf clen = sizeof(comp);

		memcpy(&bh.type, data, 4);
		memcpy(&bh.n_entries, data + 4, 4);
		bh.type = bh.type % 3;
		if (compress2(comp, &clen, data + 8, size - 8, 1) == Z_OK) {
			bh.raw_len = (uint32_t)(size - 8);
			bh.comp_len = (uint32_t)clen;
			bh.crc = (uint32_t)crc32(0, comp, (uInt)clen);
			bh.hdr_crc = (uint32_t)crc32(0, (const Bytef *)&bh, 24);
			fwrite(&bh, sizeof(bh), 1, f);
			fwrite(comp, 1, clen, f);
		}
	}
	fwrite(data, 1, size, f);
	fclose(f);
	r = rec_reader__open(path, err, sizeof(err));
	if (!r)
		return 0;
	while (rec_reader__next(r, &e, err, sizeof(err)) == 1) {
		/* touch every byte the reader vouches for */
		for (uint32_t i = 0; i < e.len; i++)
			n += ((const uint8_t *)e.data)[i];
	}
	rec_reader__close(r);
	return n == -1;
}
