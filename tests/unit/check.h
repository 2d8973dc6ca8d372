/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny test harness: CHECK records failures and main returns their count. */
#ifndef ESMPI_CHECK_H
#define ESMPI_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond) do {						\
	check_count++;							\
	if (!(cond)) {							\
		check_failures++;					\
		fprintf(stderr, "%s:%d: CHECK failed: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
	}								\
} while (0)

#define CHECK_INT_EQ(a, b) do {						\
	long long check_a_ = (long long)(a), check_b_ = (long long)(b);	\
	check_count++;							\
	if (check_a_ != check_b_) {					\
		check_failures++;					\
		fprintf(stderr, "%s:%d: CHECK failed: %s == %s "	\
		    "(%lld != %lld)\n", __FILE__, __LINE__, #a, #b,	\
		    check_a_, check_b_);				\
	}								\
} while (0)

#define CHECK_STR_CONTAINS(hay, needle) do {				\
	const char *check_h_ = (hay);					\
	check_count++;							\
	if (check_h_ == NULL || strstr(check_h_, (needle)) == NULL) {	\
		check_failures++;					\
		fprintf(stderr, "%s:%d: CHECK failed: \"%s\" does not "	\
		    "contain \"%s\"\n", __FILE__, __LINE__,		\
		    check_h_ ? check_h_ : "(null)", (needle));		\
	}								\
} while (0)

static inline int
check_report(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count,
	    check_failures);
	return check_failures ? 1 : 0;
}

#endif
