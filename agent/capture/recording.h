/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Recordings (nexus-agent record / replay): the file format, its writer and its reader. A
 * recording holds every ring-buffer record byte for byte, in order, plus what user space learned
 * from /proc of the recording host that the records do not say, so that a replay runs the same
 * conntrack -> pipeline -> stats code on another machine, without root or a kernel.
 *
 * Format, version 1. All integers little-endian (the agent's hosts: x86_64, arm64).
 *
 *   file header, 256 bytes (struct rec_file_hdr):
 *	magic "NXREC\r\n\x1a", version (u32), header length (u32), agent version (char[32]),
 *	host name (char[64]), boot id (char[40], /proc/sys/kernel/random/boot_id: CLOCK_MONOTONIC
 *	times compare only within one boot), CLOCK_MONOTONIC and CLOCK_REALTIME at the start
 *	(ns: realtime - monotonic maps record times to wall time), capture settings (capture
 *	bytes, ring bytes, max conns, REC_F_* flags), CRC32 of the header's bytes before it.
 *	A reader refuses a version above its own; a longer header of a later minor addition is
 *	skipped by its length.
 *   blocks, until the end block:
 *	block header, 32 bytes (struct rec_block_hdr): magic "NXBK", type (REC_BLOCK_*),
 *	uncompressed length, compressed length, entry count, CRC32 of the compressed payload,
 *	CRC32 of the header's first 24 bytes, reserved;
 *	payload: zlib (deflate, RFC 1950) of the block's entries. At most REC_BLOCK_RAW_MAX
 *	uncompressed bytes.
 *   entries, inside a block's uncompressed payload, each 8-byte aligned:
 *	u32 length of the data, u16 kind (REC_E_*), u16 zero, the data, zero padding to 8.
 *	REC_E_RING     a ring-buffer record as the kernel wrote it (struct nx_event_hdr first)
 *	REC_E_FOUND    a process the /proc scan found at start (struct rec_proc)
 *	REC_E_DESCRIBE what /proc said of a process conntrack met later (struct rec_proc)
 *	REC_E_LISTEN   its listening TCP ports (struct rec_listen)
 *	REC_E_PG_TITLE a postgres backend's user and database, from its title (struct rec_title)
 *	REC_E_COUNTERS the kernel's counters (u64[NX_CNT__COUNT]) at the time of the block
 *	REC_E_IDENTITY a process's container and pod (struct rec_identity); a later minor
 *	               addition: readers before it skip it, and their servers carry no identity
 *	A lookup entry comes before the record whose handling asked for it.
 *   the end block (REC_BLOCK_END): entries as above (the final counters); nothing follows it.
 *
 * A file without its end block was cut short: its blocks up to the first bad one still replay.
 */
#ifndef NEXUS_RECORDING_H
#define NEXUS_RECORDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "events.h"
#include "identity.h"

#define REC_MAGIC "NXREC\r\n\x1a"
#define REC_VERSION 1
#define REC_BLOCK_MAGIC 0x4b42584eu /* "NXBK" */
/* Uncompressed bytes per block, at most: the write buffering's bound (and a reader's). */
#define REC_BLOCK_RAW_MAX (1U << 20)
/* A block is written at least this often while records come (ns), so a crash loses little. */
#define REC_FLUSH_NS (1000 * 1000000ULL)

enum rec_block_type {
	REC_BLOCK_DATA = 1,
	REC_BLOCK_END = 2,
};

enum rec_entry_kind {
	REC_E_RING = 1,
	REC_E_FOUND = 2,
	REC_E_DESCRIBE = 3,
	REC_E_LISTEN = 4,
	REC_E_PG_TITLE = 5,
	REC_E_COUNTERS = 6,
	REC_E_IDENTITY = 7,
};

/* Capture settings of the recording (REC_F_*). */
#define REC_F_USDT 0x1
#define REC_F_PG_EXEC_TIME 0x2
#define REC_F_REDIS_UPROBES 0x4
#define REC_F_DATA_READY 0x8 /* sock:sk_data_ready attached: reads carry arrival times */

struct rec_file_hdr {
	char magic[8];
	uint32_t version;
	uint32_t hdr_len;
	char agent_version[32];
	char hostname[64];
	char boot_id[40];
	uint64_t start_mono_ns;
	int64_t start_real_ns;
	uint32_t capture_bytes;
	uint32_t ring_bytes;
	uint32_t max_conns;
	uint32_t flags;
	uint8_t reserved[68];
	uint32_t hdr_crc; /* CRC32 of the bytes above */
};

struct rec_block_hdr {
	uint32_t magic;
	uint32_t type;
	uint32_t raw_len;
	uint32_t comp_len;
	uint32_t n_entries;
	uint32_t crc;	  /* of the compressed payload */
	uint32_t hdr_crc; /* of the 24 bytes above */
	uint32_t reserved;
};

/* REC_E_FOUND, REC_E_DESCRIBE. rc: 0, or the lookup's -errno (then only tgid counts). */
struct rec_proc {
	uint32_t tgid;
	uint32_t ppid;
	int32_t rc;
	uint8_t kind; /* enum nx_server_kind */
	uint8_t pad[3];
	char comm[NX_COMM_LEN];
	char exe[256];
};

struct rec_listen {
	uint32_t tgid;
	uint32_t n;
	uint16_t ports[32];
};

struct rec_title {
	uint32_t tgid;
	int32_t rc;
	char user[64];
	char db[64];
};

struct rec_identity {
	uint32_t tgid;
	uint32_t found; /* 1: in a container or pod; 0: a process of the host */
	struct nx_identity id; /* fixed-size strings, NUL-terminated */
};

/* --- writing ---------------------------------------------------------------------------------- */

struct rec_writer;

/* Creates path (mode 0600: it holds raw bytes) and writes the header. hdr's magic, version,
 * hdr_len and hdr_crc are filled in. NULL + errno. */
struct rec_writer *rec_writer__open(const char *path, const struct rec_file_hdr *hdr);
/* Adds one entry; writes a block when the buffer is full or REC_FLUSH_NS passed (now_ns). 0 or
 * -errno (of the write: the recording is broken from there on). */
int rec_writer__add(struct rec_writer *w, uint16_t kind, const void *data, uint32_t len,
		    uint64_t now_ns);
/* Writes what is buffered as a block. 0 or -errno. */
int rec_writer__flush(struct rec_writer *w);
/* Flushes, writes the end block holding the final entry (kind, data, len; len 0: none), syncs
 * and closes. 0 or -errno; w is freed either way. NULL is accepted. */
int rec_writer__close(struct rec_writer *w, uint16_t kind, const void *data, uint32_t len);
uint64_t rec_writer__entries(const struct rec_writer *w);
uint64_t rec_writer__bytes(const struct rec_writer *w); /* written to the file so far */

/* --- reading ---------------------------------------------------------------------------------- */

struct rec_entry {
	uint16_t kind;
	uint32_t len;
	const void *data; /* 8-byte aligned; valid until the next rec_reader__next */
};

struct rec_reader;

/* Opens and checks the header (a newer version is refused, saying so). NULL + errno, with the
 * reason in err. */
struct rec_reader *rec_reader__open(const char *path, char *err, size_t errlen);
const struct rec_file_hdr *rec_reader__header(const struct rec_reader *r);
/* The next entry: 1, 0 at the end block, or -errno with err naming the first bad block (its
 * index, from 0, and byte offset): every entry before it was returned. */
int rec_reader__next(struct rec_reader *r, struct rec_entry *e, char *err, size_t errlen);
uint32_t rec_reader__blocks(const struct rec_reader *r); /* blocks read whole */
void rec_reader__close(struct rec_reader *r);

#endif /* NEXUS_RECORDING_H */
