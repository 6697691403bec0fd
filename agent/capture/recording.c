// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The recording format's writer and reader; the format is described in recording.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "capture/recording.h"

_Static_assert(sizeof(struct rec_file_hdr) == 256, "file header is 256 bytes");
_Static_assert(sizeof(struct rec_block_hdr) == 32, "block header is 32 bytes");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the format is little-endian");

#define ENTRY_HDR 8
#define ALIGN8(n) (((n) + 7u) & ~7u)

static uint32_t crc_of(const void *p, size_t n)
{
	return (uint32_t)crc32(0L, p, (uInt)n);
}

/* --- writing ---------------------------------------------------------------------------------- */

struct rec_writer {
	int fd;
	uint8_t *raw;	   /* REC_BLOCK_RAW_MAX: the block being filled */
	uint32_t raw_len;
	uint32_t n;	   /* entries in it */
	uint8_t *comp;	   /* compressBound(REC_BLOCK_RAW_MAX) */
	uLong comp_cap;
	uint64_t first_ns; /* when the block's first entry came; 0: empty */
	uint64_t entries;
	uint64_t bytes;
	int err;	   /* the first write error: sticky */
};

static int write_all(struct rec_writer *w, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t k = write(w->fd, b, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return w->err = k < 0 ? -errno : -EIO;
		b += k;
		n -= (size_t)k;
		w->bytes += (uint64_t)k;
	}
	return 0;
}

struct rec_writer *rec_writer__open(const char *path, const struct rec_file_hdr *hdr)
{
	struct rec_writer *w = calloc(1, sizeof(*w));
	struct rec_file_hdr h = *hdr;
	int err;

	if (!w)
		return NULL;
	w->fd = -1;
	w->comp_cap = compressBound(REC_BLOCK_RAW_MAX);
	w->raw = malloc(REC_BLOCK_RAW_MAX);
	w->comp = malloc(w->comp_cap);
	if (!w->raw || !w->comp) {
		err = -ENOMEM;
		goto cleanup;
	}
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	/* An existing file keeps its mode through O_TRUNC: a recording is never readable by others. */
	if (w->fd < 0 || fchmod(w->fd, 0600)) {
		err = -errno;
		goto cleanup;
	}
	memcpy(h.magic, REC_MAGIC, sizeof(h.magic));
	h.version = REC_VERSION;
	h.hdr_len = sizeof(h);
	h.hdr_crc = crc_of(&h, offsetof(struct rec_file_hdr, hdr_crc));
	err = write_all(w, &h, sizeof(h));
	if (err)
		goto cleanup;
	return w;
cleanup:
	if (w->fd >= 0)
		close(w->fd);
	free(w->raw);
	free(w->comp);
	free(w);
	errno = -err;
	return NULL;
}

static int write_block(struct rec_writer *w, uint32_t type)
{
	struct rec_block_hdr bh = { .magic = REC_BLOCK_MAGIC, .type = type };
	uLongf clen = w->comp_cap;
	int err;

	if (w->err)
		return w->err;
	if (!w->raw_len && type == REC_BLOCK_DATA)
		return 0;
	/* Level 1: the writer runs on the capture thread; speed over ratio. */
	if (compress2(w->comp, &clen, w->raw, w->raw_len, Z_BEST_SPEED) != Z_OK)
		return w->err = -EIO;
	bh.raw_len = w->raw_len;
	bh.comp_len = (uint32_t)clen;
	bh.n_entries = w->n;
	bh.crc = crc_of(w->comp, clen);
	bh.hdr_crc = crc_of(&bh, offsetof(struct rec_block_hdr, hdr_crc));
	err = write_all(w, &bh, sizeof(bh));
	if (!err)
		err = write_all(w, w->comp, clen);
	w->raw_len = 0;
	w->n = 0;
	w->first_ns = 0;
	return err;
}

int rec_writer__flush(struct rec_writer *w)
{
	return write_block(w, REC_BLOCK_DATA);
}

static int append(struct rec_writer *w, uint16_t kind, const void *data, uint32_t len)
{
	uint32_t need = ENTRY_HDR + ALIGN8(len);
	uint8_t *p;
	int err;

	if (need > REC_BLOCK_RAW_MAX)
		return -E2BIG;
	if (w->raw_len + need > REC_BLOCK_RAW_MAX) {
		err = rec_writer__flush(w);
		if (err)
			return err;
	}
	p = w->raw + w->raw_len;
	memcpy(p, &len, 4);
	memcpy(p + 4, &kind, 2);
	memset(p + 6, 0, 2);
	memcpy(p + ENTRY_HDR, data, len);
	memset(p + ENTRY_HDR + len, 0, ALIGN8(len) - len);
	w->raw_len += need;
	w->n++;
	w->entries++;
	return 0;
}

int rec_writer__add(struct rec_writer *w, uint16_t kind, const void *data, uint32_t len,
		    uint64_t now_ns)
{
	int err;

	if (w->err)
		return w->err;
	err = append(w, kind, data, len);
	if (err)
		return err;
	if (!w->first_ns)
		w->first_ns = now_ns ? now_ns : 1;
	else if (now_ns && now_ns - w->first_ns >= REC_FLUSH_NS)
		return rec_writer__flush(w);
	return 0;
}

int rec_writer__close(struct rec_writer *w, uint16_t kind, const void *data, uint32_t len)
{
	int err;

	if (!w)
		return 0;
	err = rec_writer__flush(w);
	if (!err && len)
		err = append(w, kind, data, len);
	if (!err)
		err = write_block(w, REC_BLOCK_END);
	if (!err && fsync(w->fd))
		err = -errno;
	if (close(w->fd) && !err)
		err = -errno;
	free(w->raw);
	free(w->comp);
	free(w);
	return err;
}

uint64_t rec_writer__entries(const struct rec_writer *w)
{
	return w->entries;
}

uint64_t rec_writer__bytes(const struct rec_writer *w)
{
	return w->bytes;
}

/* --- reading ---------------------------------------------------------------------------------- */

struct rec_reader {
	FILE *f;
	struct rec_file_hdr hdr;
	uint64_t off;	   /* byte offset of the next block header */
	uint32_t index;	   /* index of the next block */
	uint8_t *raw;	   /* the current block, uncompressed (8-byte aligned: malloc) */
	uint32_t raw_len, pos, left; /* entries left in it */
	uint8_t *comp;
	bool ended;
};

struct rec_reader *rec_reader__open(const char *path, char *err, size_t errlen)
{
	struct rec_reader *r = calloc(1, sizeof(*r));
	uint8_t buf[sizeof(struct rec_file_hdr)];
	size_t n;
	int e = 0;

	if (!r)
		return NULL;
	r->f = fopen(path, "rbe");
	if (!r->f) {
		e = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto cleanup;
	}
	n = fread(buf, 1, sizeof(buf), r->f);
	if (n < 16 || memcmp(buf, REC_MAGIC, 8)) {
		e = -EINVAL;
		snprintf(err, errlen, "%s: not a nexus-agent recording", path);
		goto cleanup;
	}
	memcpy(&r->hdr.version, buf + 8, 4);
	if (r->hdr.version > REC_VERSION || r->hdr.version == 0) {
		e = -EPROTONOSUPPORT;
		snprintf(err, errlen,
			 "%s: recording format version %u is newer than this agent reads (%u): "
			 "replay it with a newer nexus-agent",
			 path, r->hdr.version, (unsigned)REC_VERSION);
		goto cleanup;
	}
	memcpy(&r->hdr, buf, n < sizeof(r->hdr) ? n : sizeof(r->hdr));
	if (n < sizeof(r->hdr) || r->hdr.hdr_len < sizeof(r->hdr) ||
	    crc_of(&r->hdr, offsetof(struct rec_file_hdr, hdr_crc)) != r->hdr.hdr_crc) {
		e = -EBADMSG;
		snprintf(err, errlen, "%s: the file header (byte 0) is %s", path,
			 n < sizeof(r->hdr) ? "truncated" : "corrupt (CRC mismatch)");
		goto cleanup;
	}
	r->off = r->hdr.hdr_len;
	if (fseeko(r->f, (off_t)r->off, SEEK_SET)) {
		e = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto cleanup;
	}
	r->raw = malloc(REC_BLOCK_RAW_MAX);
	r->comp = malloc(compressBound(REC_BLOCK_RAW_MAX));
	if (!r->raw || !r->comp) {
		e = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto cleanup;
	}
	return r;
cleanup:
	rec_reader__close(r);
	errno = -e;
	return NULL;
}

const struct rec_file_hdr *rec_reader__header(const struct rec_reader *r)
{
	return &r->hdr;
}

uint32_t rec_reader__blocks(const struct rec_reader *r)
{
	return r->index;
}

static int bad_block(struct rec_reader *r, char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "block %u at byte %llu: %s", r->index, (unsigned long long)r->off,
		 why);
	return -EBADMSG;
}

/* Reads, checks and inflates the next block. 0, or -errno with err set. */
static int load_block(struct rec_reader *r, char *err, size_t errlen)
{
	struct rec_block_hdr bh;
	char why[160];
	uLongf rlen;
	size_t n;

	n = fread(&bh, 1, sizeof(bh), r->f);
	if (n == 0 && feof(r->f))
		return bad_block(r, err, errlen,
				 "the file ends here without its end block (recording cut short)");
	if (n < sizeof(bh))
		return bad_block(r, err, errlen, "truncated block header");
	if (bh.magic != REC_BLOCK_MAGIC ||
	    crc_of(&bh, offsetof(struct rec_block_hdr, hdr_crc)) != bh.hdr_crc)
		return bad_block(r, err, errlen, "corrupt block header (bad magic or CRC)");
	if ((bh.type != REC_BLOCK_DATA && bh.type != REC_BLOCK_END) ||
	    bh.raw_len > REC_BLOCK_RAW_MAX || bh.comp_len > compressBound(REC_BLOCK_RAW_MAX))
		return bad_block(r, err, errlen, "block header out of bounds");
	n = fread(r->comp, 1, bh.comp_len, r->f);
	if (n < bh.comp_len) {
		snprintf(why, sizeof(why), "truncated: %u payload bytes, %zu in the file",
			 bh.comp_len, n);
		return bad_block(r, err, errlen, why);
	}
	if (crc_of(r->comp, bh.comp_len) != bh.crc) {
		snprintf(why, sizeof(why), "CRC mismatch (stored %08x, computed %08x)", bh.crc,
			 crc_of(r->comp, bh.comp_len));
		return bad_block(r, err, errlen, why);
	}
	rlen = REC_BLOCK_RAW_MAX;
	if (uncompress(r->raw, &rlen, r->comp, bh.comp_len) != Z_OK || rlen != bh.raw_len)
		return bad_block(r, err, errlen, "payload does not inflate to its length");
	/* Walk the entries once: a reader never reads past the block. */
	for (uint32_t pos = 0, i = 0; i < bh.n_entries || pos < rlen; i++) {
		uint32_t len;

		if (i >= bh.n_entries || pos + ENTRY_HDR > rlen)
			return bad_block(r, err, errlen, "entries do not match the count");
		memcpy(&len, r->raw + pos, 4);
		if (len > rlen - pos - ENTRY_HDR || ALIGN8(len) > rlen - pos - ENTRY_HDR)
			return bad_block(r, err, errlen, "an entry runs past the block");
		pos += ENTRY_HDR + ALIGN8(len);
	}
	r->raw_len = (uint32_t)rlen;
	r->pos = 0;
	r->left = bh.n_entries;
	r->ended = bh.type == REC_BLOCK_END;
	r->off += sizeof(bh) + bh.comp_len;
	r->index++;
	return 0;
}

int rec_reader__next(struct rec_reader *r, struct rec_entry *e, char *err, size_t errlen)
{
	uint32_t len;
	uint16_t kind;
	int rc;

	while (!r->left) {
		if (r->ended)
			return 0;
		rc = load_block(r, err, errlen);
		if (rc)
			return rc;
	}
	memcpy(&len, r->raw + r->pos, 4);
	memcpy(&kind, r->raw + r->pos + 4, 2);
	e->kind = kind;
	e->len = len;
	e->data = r->raw + r->pos + ENTRY_HDR;
	r->pos += ENTRY_HDR + ALIGN8(len);
	r->left--;
	return 1;
}

void rec_reader__close(struct rec_reader *r)
{
	if (!r)
		return;
	if (r->f)
		fclose(r->f);
	free(r->raw);
	free(r->comp);
	free(r);
}
