// SPDX-License-Identifier: MIT
/*
 * fp_rdma_nl_parse_copy_on_fork() against hand-built kernel answers: the flag set and clear,
 * the attribute missing (kernels before 5.13), an NLMSG_ERROR, an ACK only, another sequence
 * number, and truncated messages and attributes. TAP output; exit 0 when all pass.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <rdma/rdma_netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rdma_nl.h"

#define SEQ 42

struct msgbuf {
	uint8_t data[1024];
	size_t len;
};

/* Append a message header; returns it so attributes can grow its length. */
static struct nlmsghdr *put_msg(struct msgbuf *b, uint16_t type, uint32_t seq)
{
	struct nlmsghdr *nh = (void *)(b->data + b->len);

	memset(nh, 0, NLMSG_HDRLEN);
	nh->nlmsg_len = NLMSG_HDRLEN;
	nh->nlmsg_type = type;
	nh->nlmsg_seq = seq;
	b->len += NLMSG_HDRLEN;
	return nh;
}

static void put_attr(struct msgbuf *b, struct nlmsghdr *nh, uint16_t type, const void *val,
		     size_t len)
{
	struct nlattr *nla = (void *)(b->data + b->len);
	size_t total = NLA_ALIGN(NLA_HDRLEN + len);

	memset(nla, 0, total);
	nla->nla_len = (uint16_t)(NLA_HDRLEN + len);
	nla->nla_type = type;
	memcpy((uint8_t *)nla + NLA_HDRLEN, val, len);
	b->len += total;
	nh->nlmsg_len += (uint32_t)total;
}

static void put_error(struct msgbuf *b, uint32_t seq, int error)
{
	struct nlmsghdr *nh = put_msg(b, NLMSG_ERROR, seq);
	struct nlmsgerr *e = (void *)(b->data + b->len);

	memset(e, 0, sizeof(*e));
	e->error = error;
	b->len += NLMSG_ALIGN(sizeof(*e));
	nh->nlmsg_len += (uint32_t)NLMSG_ALIGN(sizeof(*e));
}

#define SYS_GET RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_SYS_GET)

static int failures, count;

static void expect(const char *name, int got, int want)
{
	count++;
	if (got == want) {
		printf("ok %d %s\n", count, name);
	} else {
		printf("not ok %d %s: got %d, want %d\n", count, name, got, want);
		failures++;
	}
}

/* A 5.13+ answer: netns mode, then copy-on-fork = @cof, then the ACK. */
static void build_answer(struct msgbuf *b, uint8_t cof)
{
	uint8_t netns = 1;
	struct nlmsghdr *nh;

	memset(b, 0, sizeof(*b));
	nh = put_msg(b, SYS_GET, SEQ);
	put_attr(b, nh, RDMA_NLDEV_SYS_ATTR_NETNS_MODE, &netns, 1);
	put_attr(b, nh, RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK, &cof, 1);
	put_error(b, SEQ, 0);
}

int main(void)
{
	struct msgbuf b;
	struct nlmsghdr *nh;
	uint8_t netns = 0;

	printf("TAP version 13\n1..9\n");
	build_answer(&b, 1);
	expect("copy-on-fork on", fp_rdma_nl_parse_copy_on_fork(b.data, b.len, SEQ), 1);
	build_answer(&b, 0);
	expect("copy-on-fork off", fp_rdma_nl_parse_copy_on_fork(b.data, b.len, SEQ), 0);

	memset(&b, 0, sizeof(b));
	nh = put_msg(&b, SYS_GET, SEQ);
	put_attr(&b, nh, RDMA_NLDEV_SYS_ATTR_NETNS_MODE, &netns, 1);
	expect("attribute missing (kernel < 5.13)",
	       fp_rdma_nl_parse_copy_on_fork(b.data, b.len, SEQ), -ENOENT);

	memset(&b, 0, sizeof(b));
	put_error(&b, SEQ, -EOPNOTSUPP);
	expect("NLMSG_ERROR", fp_rdma_nl_parse_copy_on_fork(b.data, b.len, SEQ), -EOPNOTSUPP);

	memset(&b, 0, sizeof(b));
	put_error(&b, SEQ, 0);
	expect("ACK only: keep reading", fp_rdma_nl_parse_copy_on_fork(b.data, b.len, SEQ),
	       -EAGAIN);

	build_answer(&b, 1);
	expect("another sequence number", fp_rdma_nl_parse_copy_on_fork(b.data, b.len, SEQ + 1),
	       -EAGAIN);

	build_answer(&b, 1);
	expect("message longer than the buffer",
	       fp_rdma_nl_parse_copy_on_fork(b.data, NLMSG_HDRLEN + 4, SEQ), -EBADMSG);

	build_answer(&b, 1);
	((struct nlattr *)(b.data + NLMSG_HDRLEN))->nla_len = 200;
	expect("attribute longer than the message",
	       fp_rdma_nl_parse_copy_on_fork(b.data, b.len, SEQ), -EBADMSG);

	expect("empty buffer", fp_rdma_nl_parse_copy_on_fork(b.data, 0, SEQ), -EAGAIN);
	return failures ? 1 : 0;
}
