/* SPDX-License-Identifier: MIT */
/*
 * The node's identity in the fingerprint: host name, rdma-core, each RDMA NIC's firmware and
 * board id, and the IOMMU mode, so a report says which machine (and which firmware and IOMMU
 * setting) a verdict belongs to, and `forkpin compare` can show what changed.
 */
#ifndef FORKPIN_NODE_H
#define FORKPIN_NODE_H

#include "env.h"

/* Add the node.*, nic.* and iommu.* keys to @env. Never fails: unknown facts say so. */
void fp_env_collect_node(struct fp_env *env);

#endif
