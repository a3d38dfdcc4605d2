// SPDX-License-Identifier: MIT
/* The kernel's RDMA copy-on-fork flag over NETLINK_RDMA: see rdma_nl.h. */
#include "rdma_nl.h"

#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <rdma/rdma_netlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int fp_rdma_nl_parse_copy_on_fork(const void *buf, size_t len, uint32_t seq)
{
	const uint8_t *p = buf;

	while (len >= NLMSG_HDRLEN) {
		const struct nlmsghdr *nh = (const void *)p;
		size_t msg_len = nh->nlmsg_len;

		if (msg_len < NLMSG_HDRLEN || msg_len > len)
			return -EBADMSG;
		if (nh->nlmsg_seq == seq) {
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				if (msg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EBADMSG;
				/* error 0 is the ACK that follows the answer: keep looking */
				if (e->error != 0)
					return e->error < 0 ? e->error : -e->error;
			} else if (nh->nlmsg_type ==
				   RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_SYS_GET)) {
				const uint8_t *a = p + NLMSG_HDRLEN;
				size_t left = msg_len - NLMSG_HDRLEN;

				while (left >= NLA_HDRLEN) {
					const struct nlattr *nla = (const void *)a;
					size_t alen = nla->nla_len;
					size_t step = NLA_ALIGN(alen);

					if (alen < NLA_HDRLEN || alen > left)
						return -EBADMSG;
					if ((nla->nla_type & NLA_TYPE_MASK) ==
					    RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK) {
						if (alen < NLA_HDRLEN + 1)
							return -EBADMSG;
						return a[NLA_HDRLEN] ? 1 : 0;
					}
					if (step > left)
						break;
					a += step;
					left -= step;
				}
				return -ENOENT;
			}
		}
		if (NLMSG_ALIGN(msg_len) >= len)
			break;
		p += NLMSG_ALIGN(msg_len);
		len -= NLMSG_ALIGN(msg_len);
	}
	return -EAGAIN;
}

int fp_rdma_copy_on_fork(char *why, size_t why_size)
{
	struct {
		struct nlmsghdr nh;
	} req = {
	    .nh =
		{
		    .nlmsg_len = NLMSG_LENGTH(0),
		    .nlmsg_type = RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_SYS_GET),
		    .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
		    .nlmsg_seq = (uint32_t)time(NULL),
		},
	};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	uint8_t buf[8192];
	int fd, ret;

	why[0] = '\0';
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_RDMA);
	if (fd < 0) {
		ret = -errno;
		snprintf(
		    why, why_size,
		    "socket(NETLINK_RDMA): %s: the kernel has no RDMA core (CONFIG_INFINIBAND)",
		    strerror(errno));
		return ret;
	}
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		ret = -errno;
		snprintf(why, why_size, "sendto(NETLINK_RDMA SYS_GET): %s", strerror(errno));
		goto out_close;
	}
	/* a few reads at most: the answer, then the ACK */
	for (int i = 0; i < 4; i++) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		ret = poll(&pfd, 1, 1000);
		if (ret <= 0) {
			ret = ret < 0 ? -errno : -ETIMEDOUT;
			snprintf(why, why_size, "no answer to NETLINK_RDMA SYS_GET: %s",
				 strerror(-ret));
			goto out_close;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			ret = -errno;
			snprintf(why, why_size, "recv(NETLINK_RDMA): %s", strerror(errno));
			goto out_close;
		}
		ret = fp_rdma_nl_parse_copy_on_fork(buf, (size_t)n, req.nh.nlmsg_seq);
		if (ret != -EAGAIN)
			break;
	}
	if (ret == -ENOENT)
		snprintf(
		    why, why_size,
		    "the kernel does not report copy-on-fork (RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK "
		    "arrived in 5.13)");
	else if (ret == -EAGAIN)
		snprintf(why, why_size, "no SYS_GET answer from the kernel");
	else if (ret < 0)
		snprintf(why, why_size, "NETLINK_RDMA SYS_GET: %s", strerror(-ret));
out_close:
	close(fd);
	return ret;
}
