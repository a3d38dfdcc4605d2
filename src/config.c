/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "config.h"
#include "backend.h"
#include "cmd.h"
#include "profile.h"
#include "util.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WHO "forkpin"

enum value_kind {
	BACKEND_OPTION, /* handed to the backends' option table */
	BACKENDS,	/* a comma-separated list of backend names */
	READABLE_FILE,
	SECONDS,
	PROFILE,
};

static const struct config_key {
	const char *name;
	enum value_kind kind;
	size_t offset; /* where the value goes in struct fp_site_config (not BACKEND_OPTION) */
	const char *example;
} config_keys[] = {
    {"device", BACKEND_OPTION, 0, "device = mlx5_0:1"},
    {"vfio-device", BACKEND_OPTION, 0, "vfio-device = 0000:00:04.0"},
    {"ofi-provider", BACKEND_OPTION, 0, "ofi-provider = verbs;ofi_rxm"},
    {"require", BACKENDS, offsetof(struct fp_site_config, require), "require = verbs,vfio"},
    {"known-failures", READABLE_FILE, offsetof(struct fp_site_config, known_failures),
     "known-failures = /etc/forkpin.known-failures"},
    {"timeout", SECONDS, 0, "timeout = 10"},
    {"profile", PROFILE, offsetof(struct fp_site_config, profile), "profile = quick"},
};

static const struct config_key *find_key(const char *name)
{
	size_t i;

	for (i = 0; i < FP_ARRAY_SIZE(config_keys); i++)
		if (!strcmp(config_keys[i].name, name))
			return &config_keys[i];
	return NULL;
}

/* Exit 2 unless every name of @list is a backend. */
static void check_backends(const char *where, const struct config_key *k, const char *list)
{
	char *copy = strdup(list), *name, *save;

	for (name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save))
		if (!fp_backend_find(name))
			fp_usage_error(WHO,
				       "%s: %s: no backend '%s' (`forkpin list -v` names them), "
				       "e.g. %s",
				       where, k->name, name, k->example);
	free(copy);
}

/* Check @value for @k (exit 2 naming @where) and store it. */
static void set_value(struct fp_site_config *cfg, const char *where, const struct config_key *k,
		      char *value)
{
	const struct fp_option *o;

	switch (k->kind) {
	case BACKEND_OPTION:
		o = fp_option_find(k->name);
		/* Not built here: a site file shared across nodes may still name it. Given on
		 * the command line or in the environment: that wins. */
		if (o && !fp_option_get(k->name))
			fp_option_set(o->name, value);
		return;
	case BACKENDS:
		check_backends(where, k, value);
		break;
	case READABLE_FILE:
		if (access(value, R_OK))
			fp_usage_error(WHO, "%s: %s: %s: %s: give a readable file, e.g. %s", where,
				       k->name, value, strerror(errno), k->example);
		break;
	case SECONDS:
		if (!fp_parse_seconds(value, &cfg->timeout_s))
			fp_usage_error(WHO, "%s: %s '%s': give seconds, e.g. %s", where, k->name,
				       value, k->example);
		return;
	case PROFILE:
		if (!fp_profile_exists(value))
			fp_usage_error(WHO, "%s: profile '%s': no such profile; there is %s", where,
				       value, fp_profile_names());
		break;
	}
	*(char **)((char *)cfg + k->offset) = value;
}

static char *trim(char *s)
{
	char *end;

	s += strspn(s, " \t\r");
	end = s + strlen(s);
	while (end > s && strchr(" \t\r", end[-1]))
		*--end = '\0';
	return s;
}

/* One line: blank, a comment, or "key = value". */
static void parse_line(struct fp_site_config *cfg, char *line, const char *where)
{
	char *hash = strchr(line, '#'), *eq, *key, *value;
	const struct config_key *k;

	if (hash)
		*hash = '\0';
	if (!*trim(line))
		return;
	eq = strchr(line, '=');
	if (!eq)
		fp_usage_error(WHO, "%s: write 'key = value' (e.g. require = verbs)", where);
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	k = find_key(key);
	if (!k)
		fp_usage_error(
		    WHO,
		    "%s: unknown key '%s': use device, vfio-device, ofi-provider, require, "
		    "known-failures, timeout or profile",
		    where, key);
	if (!*value)
		fp_usage_error(WHO, "%s: %s has no value, e.g. %s", where, key, k->example);
	value = strdup(value);
	if (!value)
		fp_usage_error(WHO, "%s: out of memory", where);
	set_value(cfg, where, k, value);
}

void fp_config_load(struct fp_site_config *cfg, const char *explicit_path)
{
	const char *path = explicit_path ? explicit_path : getenv("FORKPIN_CONFIG");
	char *line = NULL, where[600];
	size_t size = 0;
	unsigned lineno = 0;
	FILE *f;

	if (!path || !*path) {
		path = FP_DEFAULT_CONFIG;
		if (access(path, F_OK))
			return; /* no site config: the built-in defaults */
	}
	f = fopen(path, "re");
	if (!f)
		fp_usage_error(WHO,
			       "config %s: %s: give a readable file (--config FILE or "
			       "FORKPIN_CONFIG)",
			       path, strerror(errno));
	cfg->path = path;
	while (getline(&line, &size, f) >= 0) {
		snprintf(where, sizeof(where), "%s:%u", path, ++lineno);
		line[strcspn(line, "\n")] = '\0';
		parse_line(cfg, line, where);
	}
	free(line);
	fclose(f);
}
