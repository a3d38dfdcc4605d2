/* SPDX-License-Identifier: MIT */
/*
 * The kernel's RDMA copy-on-fork flag, read over a plain NETLINK_RDMA socket
 * (RDMA_NLDEV_CMD_SYS_GET, attribute RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK; `rdma sys` shows it).
 * Kernels 5.13+ set it to 1: pinned private pages are copied for the child at fork, so
 * ibv_fork_init() is not needed. No libnl, no libibverbs.
 */
#ifndef FORKPIN_RDMA_NL_H
#define FORKPIN_RDMA_NL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Ask the kernel. Returns 1 or 0 (the flag), or a negative errno with @why describing it:
 * -EPROTONOSUPPORT no RDMA netlink (kernel without CONFIG_INFINIBAND), -ENOENT the kernel
 * does not report the attribute (older than 5.13), -ETIMEDOUT no answer within a second.
 */
int fp_rdma_copy_on_fork(char *why, size_t why_size);

/*
 * Parse the kernel's answer to the SYS_GET request with sequence number @seq: @buf holds
 * @len bytes of netlink messages. Returns the flag (0/1), -ENOENT when the reply lacks the
 * attribute, -EAGAIN when @buf holds no message for @seq, -EBADMSG when it is malformed,
 * or the negative errno of an NLMSG_ERROR answer.
 */
int fp_rdma_nl_parse_copy_on_fork(const void *buf, size_t len, uint32_t seq);

#endif
