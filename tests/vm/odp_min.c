// SPDX-License-Identifier: MIT
/*
 * odp_min: the smallest RDMA data check on an on-demand-paging (ODP) memory region, no fork.
 *
 * One RC QP pair on one device, connected to itself. One buffer (private anonymous memory)
 * registered with IBV_ACCESS_ON_DEMAND (or pinned with --no-odp), one pinned staging buffer.
 *   1. RDMA WRITE staging -> buffer, wait for the completion, compare the buffer;
 *   2. the CPU writes new data into the buffer, RDMA READ buffer -> staging, wait, compare;
 *   3. (--op send or all) a SEND from staging into a receive posted on the buffer.
 * Prints TAP and, for a mismatch, where it starts and what the bytes there hold.
 *
 * usage: odp_min [--no-odp] [--len BYTES] [--off BYTES] [--op write|read|both|send|all]
 *                [--device NAME] [--gid-index N]
 * Exit: 0 data correct, 1 data wrong, 2 usage or setup error, 77 no ODP for what was asked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <infiniband/verbs.h>

struct opts {
	bool odp;
	size_t len, off;
	bool do_write, do_read, do_send;
	const char *device;
	int gid_index;
};

struct rig {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *req, *resp;
	uint8_t port;
	struct ibv_port_attr attr;
	int gid_index;
	union ibv_gid gid;
};

static int tap_n;

static void die(const char *what)
{
	fprintf(stderr, "odp_min: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void usage(void)
{
	fprintf(stderr, "usage: odp_min [--no-odp] [--len BYTES] [--off BYTES] "
			"[--op write|read|both|send|all] [--device NAME] [--gid-index N]\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){
	    .odp = true, .len = 65536, .do_write = true, .do_read = true, .gid_index = -1};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--no-odp")) {
			o->odp = false;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--len"))
			o->len = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--off"))
			o->off = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--device"))
			o->device = v;
		else if (!strcmp(a, "--gid-index"))
			o->gid_index = atoi(v);
		else if (!strcmp(a, "--op")) {
			bool all = !strcmp(v, "all"), both = all || !strcmp(v, "both");

			o->do_write = both || !strcmp(v, "write");
			o->do_read = both || !strcmp(v, "read");
			o->do_send = all || !strcmp(v, "send");
			if (!o->do_write && !o->do_read && !o->do_send)
				usage();
		} else
			usage();
	}
	if (o->len == 0 || o->len > (64u << 20))
		usage();
}

/* The first non-zero GID, RoCE v2 preferred; or the one asked for. */
static void pick_gid(struct rig *r, int want)
{
	int best = -1, best_rank = 0;

	for (int i = 0; i < r->attr.gid_tbl_len; i++) {
		struct ibv_gid_entry e;
		static const union ibv_gid zero;
		int rank;

		if (ibv_query_gid_ex(r->ctx, r->port, (uint32_t)i, &e, 0) ||
		    !memcmp(&e.gid, &zero, sizeof(zero)))
			continue;
		rank = e.gid_type == IBV_GID_TYPE_ROCE_V2 ? 2 : 1;
		if (want == i || (want < 0 && rank > best_rank)) {
			best = i, best_rank = rank, r->gid = e.gid;
			if (want == i)
				break;
		}
	}
	if (best < 0) {
		fprintf(stderr, "odp_min: no valid GID on port %u\n", r->port);
		exit(2);
	}
	r->gid_index = best;
}

static void open_device(struct rig *r, const char *name, int want_gid)
{
	struct ibv_device **list = ibv_get_device_list(NULL);

	if (!list || !list[0]) {
		fprintf(stderr,
			"odp_min: no RDMA device (rdma link add rxe0 type rxe netdev IF)\n");
		exit(2);
	}
	for (int i = 0; list[i] && !r->ctx; i++)
		if (!name || !strcmp(ibv_get_device_name(list[i]), name))
			r->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!r->ctx)
		die("ibv_open_device");
	r->port = 1;
	if (ibv_query_port(r->ctx, r->port, &r->attr))
		die("ibv_query_port");
	r->gid_index = -1;
	if (r->attr.link_layer != IBV_LINK_LAYER_INFINIBAND || want_gid >= 0)
		pick_gid(r, want_gid);
}

/* ODP caps as ibv_devinfo -v names them; 77 when @o asks for an operation ODP lacks. */
static void check_odp_caps(struct rig *r, const struct opts *o)
{
	struct ibv_device_attr_ex ex;
	uint32_t rc;

	memset(&ex, 0, sizeof(ex));
	if (ibv_query_device_ex(r->ctx, NULL, &ex))
		die("ibv_query_device_ex");
	rc = ex.odp_caps.per_transport_caps.rc_odp_caps;
	printf("# %s: odp general_caps 0x%" PRIx64 ", rc_odp_caps 0x%x (%s%s%s%s%s)\n",
	       ibv_get_device_name(r->ctx->device), ex.odp_caps.general_caps, rc,
	       rc & IBV_ODP_SUPPORT_SEND ? "SEND " : "", rc & IBV_ODP_SUPPORT_RECV ? "RECV " : "",
	       rc & IBV_ODP_SUPPORT_WRITE ? "WRITE " : "", rc & IBV_ODP_SUPPORT_READ ? "READ " : "",
	       rc & IBV_ODP_SUPPORT_ATOMIC ? "ATOMIC" : "");
	if (!o->odp)
		return;
	if (!(ex.odp_caps.general_caps & IBV_ODP_SUPPORT) ||
	    (o->do_write && !(rc & IBV_ODP_SUPPORT_WRITE)) ||
	    (o->do_read && !(rc & IBV_ODP_SUPPORT_READ)) ||
	    (o->do_send && !(rc & IBV_ODP_SUPPORT_RECV))) {
		printf("1..0 # SKIP no RC ODP for the asked operations\n");
		exit(77);
	}
}

static struct ibv_qp *create_qp(struct rig *r)
{
	struct ibv_qp_init_attr a = {
	    .send_cq = r->cq,
	    .recv_cq = r->cq,
	    .cap = {.max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1},
	    .qp_type = IBV_QPT_RC,
	};
	struct ibv_qp *qp = ibv_create_qp(r->pd, &a);

	if (!qp)
		die("ibv_create_qp");
	return qp;
}

static void connect_qp(struct rig *r, struct ibv_qp *qp, struct ibv_qp *remote)
{
	struct ibv_qp_attr init = {.qp_state = IBV_QPS_INIT,
				   .port_num = r->port,
				   .qp_access_flags =
				       IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ};
	struct ibv_qp_attr rtr = {.qp_state = IBV_QPS_RTR,
				  .path_mtu = r->attr.active_mtu,
				  .dest_qp_num = remote->qp_num,
				  .max_dest_rd_atomic = 1,
				  .min_rnr_timer = 12,
				  .ah_attr = {.dlid = r->attr.lid, .port_num = r->port}};
	struct ibv_qp_attr rts = {.qp_state = IBV_QPS_RTS,
				  .timeout = 14,
				  .retry_cnt = 7,
				  .rnr_retry = 7,
				  .max_rd_atomic = 1};

	if (r->gid_index >= 0) {
		rtr.ah_attr.is_global = 1;
		rtr.ah_attr.grh.dgid = r->gid;
		rtr.ah_attr.grh.sgid_index = (uint8_t)r->gid_index;
		rtr.ah_attr.grh.hop_limit = 64;
	}
	errno = ibv_modify_qp(qp, &init,
			      IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
	if (errno)
		die("ibv_modify_qp(INIT)");
	errno = ibv_modify_qp(qp, &rtr,
			      IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
	if (errno)
		die("ibv_modify_qp(RTR)");
	errno = ibv_modify_qp(qp, &rts,
			      IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				  IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
	if (errno)
		die("ibv_modify_qp(RTS)");
}

static int poll_send(struct rig *r, const struct timespec *t0);

/* Post one RDMA @op between @local (staging) and @remote_addr, poll its completion (5 s). */
static int transfer(struct rig *r, enum ibv_wr_opcode op, struct ibv_mr *local,
		    struct ibv_mr *remote, uint64_t remote_addr, size_t len)
{
	struct ibv_sge sge = {
	    .addr = (uintptr_t)local->addr, .length = (uint32_t)len, .lkey = local->lkey};
	struct ibv_send_wr wr = {.wr_id = 1,
				 .sg_list = &sge,
				 .num_sge = 1,
				 .opcode = op,
				 .send_flags = IBV_SEND_SIGNALED,
				 .wr.rdma = {.remote_addr = remote_addr, .rkey = remote->rkey}};
	struct ibv_send_wr *bad;
	struct timespec t0;

	errno = ibv_post_send(r->req, &wr, &bad);
	if (errno)
		die("ibv_post_send");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	return poll_send(r, &t0);
}

/* Poll completions until the send (wr_id 1) completes; any failure or 5 s: -1. */
static int poll_send(struct rig *r, const struct timespec *t0)
{
	struct timespec t;
	struct ibv_wc wc;
	int n;

	while ((n = ibv_poll_cq(r->cq, 1, &wc)) == 0) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0->tv_sec > 5) {
			printf("# no completion within 5 s\n");
			return -1;
		}
	}
	if (n < 0 || wc.status != IBV_WC_SUCCESS) {
		printf("# completion: %s\n", n < 0 ? "poll failed" : ibv_wc_status_str(wc.status));
		return -1;
	}
	if (wc.wr_id != 1) /* a SEND's receive: the send's own completion follows */
		return poll_send(r, t0);
	return 0;
}

static unsigned char pattern(size_t i, unsigned salt)
{
	return (unsigned char)(i * 131 + (i >> 8) * 7 + salt);
}

static void fill(unsigned char *p, size_t len, unsigned salt)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(i, salt);
}

/*
 * Compare @got with pattern @want; on a mismatch print where and whose bytes are there
 * (@other: the pattern that was there before the transfer). Returns the bad byte count.
 */
static size_t compare(const unsigned char *got, size_t len, unsigned want, unsigned other)
{
	size_t bad = 0, first = len, is_other = 0, is_zero = 0;

	for (size_t i = 0; i < len; i++) {
		if (got[i] == pattern(i, want))
			continue;
		if (!bad)
			first = i;
		bad++;
		is_other += got[i] == pattern(i, other);
		is_zero += got[i] == 0;
	}
	if (bad) {
		printf("# %zu of %zu bytes wrong, first at 0x%zx; of them %zu hold the old data, "
		       "%zu zero\n",
		       bad, len, first, is_other, is_zero);
		/* the run of wrong pages, page by page */
		for (size_t pg = 0; pg < (len + 4095) / 4096; pg++) {
			size_t b = 0, end = pg * 4096 + 4096 < len ? pg * 4096 + 4096 : len;

			for (size_t i = pg * 4096; i < end; i++)
				b += got[i] != pattern(i, want);
			if (b)
				printf("#   page %zu: %zu bytes wrong\n", pg, b);
		}
	}
	return bad;
}

static void tap(bool ok, const char *what)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++tap_n, what);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct rig r = {0};
	unsigned char *buf, *stage;
	size_t map_len;
	struct ibv_mr *buf_mr, *stage_mr;
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	bool ok = true;
	char what[160];

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse(argc, argv, &o);
	open_device(&r, o.device, o.gid_index);
	check_odp_caps(&r, &o);
	if (!(r.pd = ibv_alloc_pd(r.ctx)) || !(r.cq = ibv_create_cq(r.ctx, 8, NULL, NULL, 0)))
		die("ibv_alloc_pd/ibv_create_cq");
	r.req = create_qp(&r);
	r.resp = create_qp(&r);
	connect_qp(&r, r.req, r.resp);
	connect_qp(&r, r.resp, r.req);

	map_len = o.off + o.len;
	buf = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	stage = mmap(NULL, o.len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || stage == MAP_FAILED)
		die("mmap");
	fill(buf + o.off, o.len, 1);
	buf_mr = ibv_reg_mr(r.pd, buf, map_len, access | (o.odp ? IBV_ACCESS_ON_DEMAND : 0));
	stage_mr = ibv_reg_mr(r.pd, stage, o.len, IBV_ACCESS_LOCAL_WRITE);
	if (!buf_mr || !stage_mr)
		die("ibv_reg_mr");
	printf("# %s MR of %zu bytes at %p, transfers of %zu bytes at offset %zu\n",
	       o.odp ? "ODP" : "pinned", map_len, (void *)buf, o.len, o.off);

	if (o.do_write) {
		fill(stage, o.len, 2);
		snprintf(what, sizeof(what), "RDMA WRITE of %zu bytes into the %s MR", o.len,
			 o.odp ? "ODP" : "pinned");
		ok &= !transfer(&r, IBV_WR_RDMA_WRITE, stage_mr, buf_mr, (uintptr_t)buf + o.off,
				o.len) &&
		      !compare(buf + o.off, o.len, 2, 1);
		tap(ok, what);
	}
	if (o.do_read) {
		bool read_ok;

		fill(buf + o.off, o.len, 3);
		memset(stage, 0, o.len);
		snprintf(what, sizeof(what), "RDMA READ of %zu bytes from the %s MR", o.len,
			 o.odp ? "ODP" : "pinned");
		read_ok = !transfer(&r, IBV_WR_RDMA_READ, stage_mr, buf_mr, (uintptr_t)buf + o.off,
				    o.len) &&
			  !compare(stage, o.len, 3, 0);
		tap(read_ok, what);
		ok &= read_ok;
	}
	if (o.do_send) {
		bool send_ok;
		struct ibv_sge rsge = {.addr = (uintptr_t)buf + o.off,
				       .length = (uint32_t)o.len,
				       .lkey = buf_mr->lkey};
		struct ibv_recv_wr rwr = {.wr_id = 7, .sg_list = &rsge, .num_sge = 1}, *rbad;

		fill(stage, o.len, 4);
		errno = ibv_post_recv(r.resp, &rwr, &rbad);
		if (errno)
			die("ibv_post_recv");
		snprintf(what, sizeof(what), "SEND of %zu bytes into a receive on the %s MR", o.len,
			 o.odp ? "ODP" : "pinned");
		send_ok = !transfer(&r, IBV_WR_SEND, stage_mr, buf_mr, 0, o.len) &&
			  !compare(buf + o.off, o.len, 4,
				   o.do_read	? 3
				   : o.do_write ? 2
						: 1);
		tap(send_ok, what);
		ok &= send_ok;
	}
	printf("1..%d\n", tap_n);
	return ok ? 0 : 1;
}
