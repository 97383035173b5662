/* Drain benchmark load: a small fixed record of the shape every probe emits (mw_event_header
 * first), carrying a sequence number so the reader can prove order and count losses. Not a
 * probe: built with the others, loaded only by bench/ and the ring buffer tests. */
#ifndef MEMWATCHER_BENCH_DRAIN_H
#define MEMWATCHER_BENCH_DRAIN_H

#include "common.h"

/* Outside enum mw_event_type on purpose: no exporter ever sees this type. */
#define MW_EVENT_BENCH_DRAIN 100
/* Upper bound of the records-per-trigger knob (the verifier needs a bounded loop). */
#define BENCH_DRAIN_MAX_BATCH 1024

struct bench_drain_event {
	struct mw_event_header hdr;
	__u64 seq;	/* 0, 1, 2, ... across all records offered, lost ones included */
	__u32 tgid;
	__u32 index;	/* position within its trigger */
	__u64 value;	/* a payload field to decode: seq * 3 */
};

#endif
