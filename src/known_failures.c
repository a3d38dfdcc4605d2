/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "known_failures.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One line: blank, a comment, or "GLOB reason..."; -1 with the problem in @err. */
static int parse_line(struct fp_known_failures *kf, char *line, const char *where, char *err,
		      size_t err_size)
{
	char *glob, *reason, *hash = strchr(line, '#');
	struct fp_known_failure *grown, *item;
	size_t len;

	if (hash)
		*hash = '\0';
	glob = line + strspn(line, " \t\r");
	len = strcspn(glob, " \t\r");
	if (!len)
		return 0;
	reason = glob + len + strspn(glob + len, " \t\r");
	glob[len] = '\0';
	while (*reason && strchr(" \t\r", reason[strlen(reason) - 1]))
		reason[strlen(reason) - 1] = '\0';
	if (!*reason || len >= sizeof(item->glob)) {
		snprintf(err, err_size,
			 "%s: %s: write 'CASE-GLOB  reason' (a glob of at most %zu characters, "
			 "then why the site accepts the failure)",
			 where, *reason ? "glob too long" : "no reason", sizeof(item->glob) - 1);
		return -1;
	}
	grown = realloc(kf->items, (kf->count + 1) * sizeof(*kf->items));
	if (!grown) {
		snprintf(err, err_size, "%s: out of memory", where);
		return -1;
	}
	kf->items = grown;
	item = &kf->items[kf->count++];
	snprintf(item->glob, sizeof(item->glob), "%s", glob);
	snprintf(item->reason, sizeof(item->reason), "%s", reason);
	return 0;
}

int fp_known_failures_parse(struct fp_known_failures *kf, const char *name, const char *text,
			    char *err, size_t err_size)
{
	char *copy = strdup(text), *line, *next;
	char where[512];
	unsigned lineno = 0;
	int ret = 0;

	if (!copy) {
		snprintf(err, err_size, "%s: out of memory", name);
		return -1;
	}
	for (line = copy; line && !ret; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		snprintf(where, sizeof(where), "%s:%u", name, ++lineno);
		ret = parse_line(kf, line, where, err, err_size);
	}
	free(copy);
	return ret;
}

int fp_known_failures_load(struct fp_known_failures *kf, const char *path, char *err,
			   size_t err_size)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t size = 0;
	int ret;

	if (!f) {
		snprintf(err, err_size, "%s: %s: give a readable known-failures file", path,
			 strerror(errno));
		return -1;
	}
	ret = getdelim(&text, &size, '\0', f) < 0 && ferror(f) ? -1 : 0;
	fclose(f);
	if (ret) {
		snprintf(err, err_size, "%s: read error", path);
		free(text);
		return -1;
	}
	ret = fp_known_failures_parse(kf, path, text ? text : "", err, err_size);
	free(text);
	return ret;
}

void fp_known_failures_free(struct fp_known_failures *kf)
{
	free(kf->items);
	kf->items = NULL;
	kf->count = 0;
}

const struct fp_known_failure *fp_known_failures_match(const struct fp_known_failures *kf,
						       const char *case_id)
{
	size_t i;

	for (i = 0; kf && i < kf->count; i++)
		if (!fnmatch(kf->items[i].glob, case_id, 0))
			return &kf->items[i];
	return NULL;
}

void fp_known_failures_apply(const struct fp_known_failures *kf, struct fp_result *res)
{
	const struct fp_known_failure *k;

	if (res->verdict != FP_VERDICT_FAIL && res->verdict != FP_VERDICT_XFAIL)
		return;
	k = fp_known_failures_match(kf, res->id);
	if (!k)
		return;
	res->verdict = FP_VERDICT_XFAIL;
	res->site_reason = k->reason;
}
