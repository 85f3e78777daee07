/* SPDX-License-Identifier: GPL-2.0 */
/*
 * `gcheap-trace profile`: the subcommand (trace_profile.c) and its output
 * (trace_profile_print.c).  gcheap-trace's main() hands it argv when the
 * first argument is "profile".
 */
#ifndef GCHEAP_TRACE_PROFILE_H
#define GCHEAP_TRACE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>
#include "gcheap_prof.h"

struct pprof_input;

/* argv[0] is "profile"; returns the exit status. */
int gtr_profile_main(int argc, char **argv);

/* The top functions and stacks of @in, text or JSON, on stdout; @cnt is
 * the BPF `counters` map.  0, or 1 when out of memory (said on stderr). */
int gtr_profile_print(const struct pprof_input *in, const __u64 *cnt,
		      double secs, pid_t pid, bool json);

/* From gcheap-trace.c: a JSON string (at most @max bytes of @s), escaped
 * as every string of the tool is; libbpf's messages to stderr, its debug
 * log only if @verbose. */
void gtr_json_str(const char *s, size_t max);
void gtr_libbpf_messages(bool verbose);

#endif /* GCHEAP_TRACE_PROFILE_H */
