/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * record --redact: masks secrets in captured bytes in place, every length kept, so that a replay
 * of the recording still frames and counts every command and statement as the original would.
 *
 * One struct redact_conn per connection, fed its DATA chunks in capture order (both directions).
 * It follows the framing of each direction with a small streaming state machine, so a chunk may
 * end anywhere (in a length line, a value, a message header), and:
 *   Redis requests: masks every bulk-string argument the RESP parser does not read (it reads the
 *	command name, a container command's subcommand, SELECT's and HELLO's first argument, key
 *	arguments, and XREAD's 5-byte words): values, every argument of AUTH, HELLO's AUTH clause,
 *	CONFIG SET values, MIGRATE's AUTH/AUTH2, channel names. Inline commands keep their first word.
 *   Redis replies: masks bulk-string, verbatim and blob-error contents (but a top-level array's
 *	first element when it is a pub/sub kind such as "message"), and error text after the
 *	first word. Simple strings, integers, doubles, booleans and aggregate headers are kept.
 *   PostgreSQL client messages: masks the body of every 'p' message (PasswordMessage,
 *	SASLInitialResponse, SASLResponse, GSSResponse). Everything else is kept.
 * A gap (bytes a syscall moved but the capture did not hold) inside a framed body is skipped by
 * its length; a gap anywhere else, or bytes that do not parse as the protocol, leaves the
 * direction uncertain: from there on every byte of that direction of the connection is masked
 * (never leak on uncertainty). A connection the redactor cannot attribute to a server kind is
 * masked whole.
 */
#ifndef NEXUS_REDACT_H
#define NEXUS_REDACT_H

#include <stdbool.h>
#include <stdint.h>

/* The byte masked bytes become. */
#define REDACT_MASK '*'

enum redact_proto {
	REDACT_ALL = 0,	     /* unknown server kind: mask every byte */
	REDACT_REDIS = 1,
	REDACT_POSTGRES = 2,
};

struct redact_stats {
	uint64_t masked;     /* bytes masked */
	uint64_t desyncs;    /* directions that lost framing (masked from there on) */
};

struct redact_conn;

/* requests_in: the target reads the requests (it accepted the connection, or it is not known);
 * false when the target connected out (a replica to its primary). NULL + errno. */
struct redact_conn *redact_conn__new(enum redact_proto proto, bool requests_in,
				     struct redact_stats *st);
void redact_conn__free(struct redact_conn *c);

/*
 * Masks one chunk in place: data holds the cap bytes at offset off of a syscall that moved len
 * bytes in direction in (the target read them); more: another chunk of the same syscall follows;
 * sys_id: the same for every chunk of one syscall (its ts_ns).
 */
void redact_conn__chunk(struct redact_conn *c, bool in, uint8_t *data, uint32_t off,
			uint32_t cap, uint32_t len, bool more, uint64_t sys_id);

#endif /* NEXUS_REDACT_H */
