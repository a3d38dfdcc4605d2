/* SPDX-License-Identifier: MIT */
/*
 * Site defaults for `forkpin run` from a config file: /etc/forkpin.conf, or the file named
 * by FORKPIN_CONFIG, or by --config FILE. Lines are "key = value"; '#' starts a comment.
 * Keys: device, vfio-device, ofi-provider (the backends' options), require, known-failures,
 * timeout, profile. The command line wins over the environment (FORKPIN_VFIO_BDF, ...),
 * which wins over the file. A bad key or value is exit 2 naming FILE:LINE and the fix.
 */
#ifndef FORKPIN_CONFIG_H
#define FORKPIN_CONFIG_H

#include <stdbool.h>

#define FP_DEFAULT_CONFIG "/etc/forkpin.conf"

struct fp_site_config {
	const char *path; /* the file read, or NULL when there was none */
	char *require, *known_failures, *profile;
	double timeout_s; /* 0: not set */
};

/*
 * Read the site config: @explicit_path (--config) when given, else $FORKPIN_CONFIG, else
 * FP_DEFAULT_CONFIG if it exists. Call it after the command line was parsed: the backends'
 * options (device, vfio-device, ofi-provider) are set here unless the command line or the
 * environment gave them; the rest is left in @cfg for the caller to use where the command
 * line left it unset. Exits 2 on a bad file.
 */
void fp_config_load(struct fp_site_config *cfg, const char *explicit_path);

#endif
