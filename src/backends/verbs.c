// SPDX-License-Identifier: MIT
/*
 * The verbs backends: memory registered with ibv_reg_mr (long-term pins through ib_umem), and
 * an RDMA device moving data into and out of it.
 *
 * One loopback RC QP pair on one port of one device, both QPs in the case process, connected
 * to each other. The requester QP does all the work:
 *   DMA to host   = RDMA WRITE from a backend-owned staging MR into the case's MR;
 *   DMA from host = RDMA READ from the case's MR into the staging MR, copied out at dma_wait.
 * Work requests are posted in *_start and their completion is polled in dma_wait, bounded by
 * a deadline, so a fork can happen while the transfer is queued (FP_CAP_QUEUED_DMA).
 *
 * The gate: a device such as rxe executes an RDMA WRITE within microseconds of the post, so
 * without help the data would have moved before the caller forks, and the "in-flight" case
 * would test nothing. Every transfer is therefore posted behind a zero-byte SEND for which
 * the responder has no receive buffer yet: the responder answers RNR NAK, the requester
 * retries forever (rnr_retry 7), and RC ordering keeps the RDMA operation queued behind the
 * SEND. dma_wait opens the gate by posting the receive; the data moves then, as the
 * FP_CAP_QUEUED_DMA guarantee says. The cost is one RNR retry delay per transfer (one
 * jiffy on rxe).
 *
 * Two rows share the hooks: `verbs` (pinned MRs) and `verbs-odp` (IBV_ACCESS_ON_DEMAND MRs:
 * no pins, the device follows the process's page tables through MMU notifiers).
 */
#define _GNU_SOURCE
#include "registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct fp_option verbs_options[] = {
    {
	.name = "device",
	.arg = "NAME[:PORT]",
	.env = "FORKPIN_VERBS_DEVICE",
	.help = "verbs: RDMA device and port (default: the first device with an ACTIVE "
		"port)",
    },
    {
	.name = "gid-index",
	.arg = "N",
	.env = "FORKPIN_VERBS_GID_INDEX",
	.help = "verbs: GID table index on RoCE/iWARP (default: RoCE v2 IPv4-mapped first, "
		"else any valid)",
    },
    {
	.name = "fork-init",
	.arg = NULL,
	.env = "FORKPIN_FORK_INIT",
	.help = "verbs: call ibv_fork_init() and set RDMAV_FORK_SAFE=1 in each case "
		"(registered ranges become MADV_DONTFORK)",
    },
    {0},
};

#define VERBS_CAPS                                                                                 \
	(FP_CAP_DMA_TO_HOST | FP_CAP_DMA_FROM_HOST | FP_CAP_QUEUED_DMA | FP_CAP_ANY_MEMORY)
/* one RDMA message per transfer; the staging MR is this large */
#define VERBS_MAX_TRANSFER (1u << 20)
/* soft-RoCE under QEMU TCG moves ~30 MB/s: keep a case to a few seconds of traffic */
#define VERBS_CASE_BUDGET (64u << 20)

#if HAVE_LIBIBVERBS

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "../rdma_nl.h"
#include "../util.h"
#include "rdma_lib.h"
#include "verbs_env.h"

/* wr_ids of the gate's SEND and receive (transfers count up from 1) */
#define VERBS_GATE_WR_ID (UINT64_MAX - 1)
#define VERBS_OPEN_WR_ID UINT64_MAX

/* rxe's vendor_id (RXE_VENDOR_ID in the kernel's rxe_param.h) */
#define VERBS_RXE_VENDOR_ID 0xffffffu
/* what the ODP self-test found misplaced (verbs_state.odp_misplaces) */
#define VERBS_ODP_BAD_WRITE 1u
#define VERBS_ODP_BAD_READ  2u

/* Bound for one completion (a transfer of at most VERBS_MAX_TRANSFER). */
#define VERBS_DEADLINE_MS 5000

/* Set by check_options in the main process when a port was active as the run started. */
#define VERBS_ACTIVE_AT_START "FORKPIN_VERBS_ACTIVE_AT_START"

#define VERBS_NO_DEVICE                                                                            \
	"no RDMA device with an active port: run the suite in the test VM (forkpin vm) or create " \
	"one with " FP_SETUP("rxe") " add NETDEV"

/* Where a case's traffic goes: the parsed options. */
struct verbs_target {
	char device[IBV_SYSFS_NAME_MAX]; /* empty: the first with an ACTIVE port */
	unsigned port;			 /* 0: the first ACTIVE port */
	int gid_index;			 /* -1: automatic */
};

/* A device and port that were chosen, with what the QPs need to address it. */
struct verbs_port {
	struct ibv_context *ctx;
	uint8_t port;
	struct ibv_port_attr attr;
	int gid_index; /* -1 on IB (LID addressing) */
	union ibv_gid gid;
};

/* struct verbs_state - one open backend in one case process (dev->priv). */
struct verbs_state {
	bool odp; /* the verbs-odp row: case MRs are IBV_ACCESS_ON_DEMAND */
	/* VERBS_ODP_BAD_*: operations the ODP self-test saw land at the wrong page offset */
	unsigned odp_misplaces;
	struct verbs_port p; /* device, port and GID in use */
	struct ibv_pd *pd;
	struct ibv_comp_channel *chan; /* completion events, so waits sleep in poll() */
	struct ibv_cq *cq;	       /* one CQ for both QPs; only the requester signals */
	struct ibv_qp *req;	       /* requester: posts RDMA WRITE / READ */
	struct ibv_qp *resp;	       /* responder: the case's MR is reached through it */
	void *staging;		       /* backend-owned source/sink of every transfer */
	size_t staging_len;
	struct ibv_mr *staging_mr;
	/* the outstanding transfer, between *_start and dma_wait */
	bool posted;
	enum ibv_wr_opcode opcode;
	size_t off, len;
	void *dst; /* RDMA READ: where dma_wait copies the staging data */
	uint64_t wr_id;
};

/* struct verbs_reg - one registration (dev->reg). */
struct verbs_reg {
	struct ibv_mr *mr;
	void *addr;
	size_t len;
};

static struct verbs_state *to_verbs_state(struct fp_dev *dev)
{
	return dev->priv;
}

static const char *verbs_qp_state_str(enum ibv_qp_state s)
{
	static const char *const names[] = {
	    [IBV_QPS_RESET] = "RESET", [IBV_QPS_INIT] = "INIT", [IBV_QPS_RTR] = "RTR",
	    [IBV_QPS_RTS] = "RTS",     [IBV_QPS_SQD] = "SQD",	[IBV_QPS_SQE] = "SQE",
	    [IBV_QPS_ERR] = "ERR",
	};

	if ((unsigned)s < FP_ARRAY_SIZE(names) && names[s])
		return names[s];
	return "UNKNOWN";
}

static const char *verbs_opcode_str(enum ibv_wr_opcode op)
{
	return op == IBV_WR_RDMA_READ ? "RDMA READ" : "RDMA WRITE";
}

/* Parse the device, port and gid-index options into @t; -EINVAL with @err on garbage. */
static int verbs_parse_target(struct verbs_target *t, char *err, size_t err_size)
{
	const char *dev = fp_option_get("device");
	const char *gid = fp_option_get("gid-index");

	memset(t, 0, sizeof(*t));
	t->gid_index = -1;
	if (dev && dev[0]) {
		const char *colon = strchr(dev, ':');
		size_t n = colon ? (size_t)(colon - dev) : strlen(dev);

		if (n == 0 || n >= sizeof(t->device)) {
			snprintf(err, err_size, "--device '%s': expected NAME[:PORT], e.g. rxe0:1",
				 dev);
			return -EINVAL;
		}
		memcpy(t->device, dev, n);
		t->device[n] = '\0';
		if (colon) {
			char *end;
			unsigned long port = strtoul(colon + 1, &end, 10);

			if (!colon[1] || *end || port == 0 || port > 255) {
				snprintf(err, err_size,
					 "--device '%s': PORT must be a number from 1 to 255", dev);
				return -EINVAL;
			}
			t->port = (unsigned)port;
		}
	}
	if (gid && gid[0] && strcmp(gid, "auto") != 0) {
		char *end;
		long idx = strtol(gid, &end, 10);

		if (*end || idx < 0 || idx > 65535) {
			snprintf(
			    err, err_size,
			    "--gid-index '%s': expected a GID table index (see ibv_devinfo -v) "
			    "or auto",
			    gid);
			return -EINVAL;
		}
		t->gid_index = (int)idx;
	}
	return 0;
}

static bool verbs_gid_is_zero(const union ibv_gid *gid)
{
	static const union ibv_gid zero;

	return memcmp(gid, &zero, sizeof(zero)) == 0;
}

static bool verbs_gid_is_v4_mapped(const union ibv_gid *gid)
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(gid->raw, prefix, sizeof(prefix)) == 0;
}

/*
 * Choose the GID of @p (already holding ctx, port and attr) for @want (-1: automatic).
 * Returns 0, or -ENODEV / -EINVAL with @err.
 */
static int verbs_pick_gid(struct verbs_port *p, int want, const char *name, char *err,
			  size_t err_size)
{
	int best = -1, best_rank = 0;
	union ibv_gid best_gid;

	if (p->attr.link_layer == IBV_LINK_LAYER_INFINIBAND && want < 0) {
		p->gid_index = -1; /* LID addressing */
		return 0;
	}
	if (want >= 0) {
		if (want >= p->attr.gid_tbl_len || ibv_query_gid(p->ctx, p->port, want, &p->gid) ||
		    verbs_gid_is_zero(&p->gid)) {
			snprintf(err, err_size,
				 "GID index %d of %s port %u is not valid (table length %d): see "
				 "`ibv_devinfo -v -d %s` or use --gid-index auto",
				 want, name, p->port, p->attr.gid_tbl_len, name);
			return -EINVAL;
		}
		p->gid_index = want;
		return 0;
	}
	/* rank: 3 RoCE v2 IPv4-mapped, 2 RoCE v2, 1 any other valid entry */
	for (int i = 0; i < p->attr.gid_tbl_len && best_rank < 3; i++) {
		struct ibv_gid_entry ent;
		int rank;

		if (ibv_query_gid_ex(p->ctx, p->port, (uint32_t)i, &ent, 0))
			continue;
		if (verbs_gid_is_zero(&ent.gid))
			continue;
		if (ent.gid_type == IBV_GID_TYPE_ROCE_V2)
			rank = verbs_gid_is_v4_mapped(&ent.gid) ? 3 : 2;
		else
			rank = 1;
		if (rank > best_rank) {
			best_rank = rank;
			best = i;
			best_gid = ent.gid;
		}
	}
	if (best < 0) {
		snprintf(err, err_size,
			 "%s port %u has no valid GID: bring its netdev up (ip link set NETDEV up)",
			 name, p->port);
		return -ENODEV;
	}
	p->gid_index = best;
	p->gid = best_gid;
	return 0;
}

/* Open @d and find its port (@want_port, or the first ACTIVE one); -ENODEV when none. */
static int verbs_open_port(struct ibv_device *d, unsigned want_port, struct verbs_port *p,
			   char *err, size_t err_size)
{
	struct ibv_device_attr da;
	const char *name = ibv_get_device_name(d);

	p->ctx = ibv_open_device(d);
	if (!p->ctx) {
		snprintf(err, err_size, "ibv_open_device(%s): %s: is ib_uverbs loaded?", name,
			 strerror(errno));
		return -ENODEV;
	}
	if (ibv_query_device(p->ctx, &da)) {
		snprintf(err, err_size, "ibv_query_device(%s): %s", name, strerror(errno));
		goto err_close;
	}
	if (want_port > da.phys_port_cnt) {
		snprintf(err, err_size, "%s has %u port(s), not port %u", name, da.phys_port_cnt,
			 want_port);
		goto err_close;
	}
	for (unsigned port = want_port ? want_port : 1; port <= da.phys_port_cnt; port++) {
		if (ibv_query_port(p->ctx, (uint8_t)port, &p->attr))
			continue;
		p->port = (uint8_t)port;
		if (p->attr.state == IBV_PORT_ACTIVE)
			return 0;
		if (want_port) {
			snprintf(err, err_size,
				 "%s port %u is %s, not ACTIVE: bring its link up (ip link set "
				 "NETDEV up; rdma link show)",
				 name, port, ibv_port_state_str(p->attr.state));
			goto err_close;
		}
	}
	snprintf(err, err_size, "%s has no ACTIVE port", name);
err_close:
	ibv_close_device(p->ctx);
	p->ctx = NULL;
	return -ENODEV;
}

/*
 * Resolve @t to an open device, port and GID. Returns 0; -ENODEV when there is no usable
 * device (VERBS_NO_DEVICE when nothing was asked for); -EINVAL when an option names
 * something that does not exist.
 */
static int verbs_resolve(const struct verbs_target *t, struct verbs_port *p, char *err,
			 size_t err_size)
{
	struct ibv_device **list;
	int n = 0, ret = -ENODEV;

	memset(p, 0, sizeof(*p));
	list = ibv_get_device_list(&n);
	if (!list || n == 0) {
		if (t->device[0])
			snprintf(err, err_size,
				 "--device %s: no RDMA devices at all: create one with " FP_SETUP(
				     "rxe") " "
					    "add NETDEV, or run in the test VM (forkpin vm)",
				 t->device);
		else
			snprintf(err, err_size, "%s", VERBS_NO_DEVICE);
		ret = t->device[0] ? -EINVAL : -ENODEV;
		goto out;
	}
	if (t->device[0]) {
		char names[256] = "";

		for (int i = 0; i < n; i++) {
			const char *name = ibv_get_device_name(list[i]);

			if (strcmp(name, t->device) == 0) {
				ret = verbs_open_port(list[i], t->port, p, err, err_size);
				if (ret == -ENODEV && t->port)
					ret = -EINVAL;
				goto found;
			}
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", name);
		}
		snprintf(err, err_size, "--device %s: no such RDMA device (have: %s)", t->device,
			 names);
		ret = -EINVAL;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		ret = verbs_open_port(list[i], 0, p, err, err_size);
		if (ret == 0)
			goto found;
	}
	snprintf(err, err_size, "%s", VERBS_NO_DEVICE);
	ret = -ENODEV;
	goto out;
found:
	if (ret == 0) {
		ret = verbs_pick_gid(p, t->gid_index, ibv_get_device_name(p->ctx->device), err,
				     err_size);
		if (ret) {
			ibv_close_device(p->ctx);
			p->ctx = NULL;
		}
	}
out:
	if (list)
		ibv_free_device_list(list);
	return ret;
}

/*
 * The run started with @name's port active and it cannot be used now: a fault, not "cannot
 * run here". Whether the device itself is gone (rdma link delete, driver unload; rxe has no
 * disassociate, so the kernel removes it only once no process holds it open: between cases)
 * or only its link is down.
 */
static int verbs_lost_since_start(struct fp_dev *dev, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s", name);
	if (access(path, F_OK))
		return fp_dev_error(dev, -EIO,
				    "%s had an active port when the run started and is gone now: "
				    "the device was removed during the run (rdma link delete, "
				    "driver unload, hot unplug)",
				    name);
	return fp_dev_error(dev, -EIO,
			    "%s had an active port when the run started and has none now: the "
			    "link went down during the run (cable, netdev, subnet manager), or the "
			    "device is being removed",
			    name);
}

/* Apply --fork-init in this (case) process: before any registration. */
static int verbs_fork_init(struct fp_dev *dev)
{
	int ret;

	if (!fp_option_get("fork-init"))
		return 0;
	setenv("RDMAV_FORK_SAFE", "1", 1);
	ret = ibv_fork_init();
	if (ret)
		return fp_dev_error(dev, -ret,
				    "ibv_fork_init(): %s: it must come before the first "
				    "registration",
				    strerror(ret));
	return 0;
}

/* Move @qp through INIT, RTR and RTS, connected to @remote on the same port. */
static int verbs_connect(struct fp_dev *dev, struct verbs_state *st, struct ibv_qp *qp,
			 struct ibv_qp *remote)
{
	struct ibv_qp_attr init = {
	    .qp_state = IBV_QPS_INIT,
	    .pkey_index = 0,
	    .port_num = st->p.port,
	    .qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ,
	};
	struct ibv_qp_attr rtr = {
	    .qp_state = IBV_QPS_RTR,
	    .path_mtu = st->p.attr.active_mtu,
	    .dest_qp_num = remote->qp_num,
	    .rq_psn = 0,
	    .max_dest_rd_atomic = 1,
	    .min_rnr_timer = 1, /* 0.01 ms: the gate's retry delay */
	    .ah_attr =
		{
		    .dlid = st->p.attr.lid,
		    .sl = 0,
		    .port_num = st->p.port,
		},
	};
	struct ibv_qp_attr rts = {
	    .qp_state = IBV_QPS_RTS,
	    .timeout = 14,
	    .retry_cnt = 7,
	    .rnr_retry = 7,
	    .sq_psn = 0,
	    .max_rd_atomic = 1,
	};
	int ret;

	if (st->p.gid_index >= 0) {
		rtr.ah_attr.is_global = 1;
		rtr.ah_attr.grh.dgid = st->p.gid;
		rtr.ah_attr.grh.sgid_index = (uint8_t)st->p.gid_index;
		rtr.ah_attr.grh.hop_limit = 64;
	}
	ret = ibv_modify_qp(qp, &init,
			    IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
	if (ret)
		return fp_dev_error(dev, -ret, "ibv_modify_qp(QP %u to INIT): %s", qp->qp_num,
				    strerror(ret));
	ret = ibv_modify_qp(qp, &rtr,
			    IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
	if (ret)
		return fp_dev_error(dev, -ret,
				    "ibv_modify_qp(QP %u to RTR, dest QP %u, GID index %d): %s",
				    qp->qp_num, remote->qp_num, st->p.gid_index, strerror(ret));
	ret = ibv_modify_qp(qp, &rts,
			    IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
	if (ret)
		return fp_dev_error(dev, -ret, "ibv_modify_qp(QP %u to RTS): %s", qp->qp_num,
				    strerror(ret));
	return 0;
}

static struct ibv_qp *verbs_create_qp(struct verbs_state *st)
{
	struct ibv_qp_init_attr attr = {
	    .send_cq = st->cq,
	    .recv_cq = st->cq,
	    .cap =
		{
		    .max_send_wr = 4,
		    .max_recv_wr = 4,
		    .max_send_sge = 1,
		    .max_recv_sge = 1,
		},
	    .qp_type = IBV_QPT_RC,
	    .sq_sig_all = 0,
	};

	return ibv_create_qp(st->pd, &attr);
}

/* Describe an ibv_reg_mr failure; names RLIMIT_MEMLOCK when that is the likely cause. */
static int verbs_reg_mr_error(struct fp_dev *dev, int err, const char *what, size_t len)
{
	struct verbs_state *st = to_verbs_state(dev);
	bool staging = !st->staging_mr; /* the staging MR is registered first, in open */
	struct rlimit rl;
	char need[32], have[32], stage[32];

	if ((err == ENOMEM || err == EFAULT) && !fp_has_cap_ipc_lock() &&
	    getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		size_t total = len + (staging ? 0 : st->staging_len);

		fp_format_size(rl.rlim_cur, have, sizeof(have));
		fp_format_size(st->staging_len, stage, sizeof(stage));
		if (staging)
			return fp_dev_error(
			    dev, -err,
			    "ibv_reg_mr(%s, %zu bytes): %s: RLIMIT_MEMLOCK is %s, the verbs "
			    "backend pins %s of staging plus the case's buffer: raise it with "
			    "ulimit -l (KiB, or unlimited)",
			    what, len, strerror(err), have, stage);
		return fp_dev_error(dev, -err,
				    "ibv_reg_mr(%s, %zu bytes): %s: RLIMIT_MEMLOCK is %s, the case "
				    "pins %s (%s of it staging): raise it with ulimit -l %zu",
				    what, len, strerror(err), have,
				    fp_format_size(total, need, sizeof(need)), stage,
				    (total + 65535) / 1024);
	}
	return fp_dev_error(dev, -err, "ibv_reg_mr(%s, %zu bytes): %s", what, len, strerror(err));
}

static void verbs_close(struct fp_dev *dev)
{
	struct verbs_state *st = to_verbs_state(dev);

	if (!st)
		return;
	if (st->req)
		ibv_destroy_qp(st->req);
	if (st->resp)
		ibv_destroy_qp(st->resp);
	if (st->cq)
		ibv_destroy_cq(st->cq);
	if (st->chan)
		ibv_destroy_comp_channel(st->chan);
	if (st->staging_mr)
		ibv_dereg_mr(st->staging_mr);
	if (st->staging)
		munmap(st->staging, st->staging_len);
	if (st->pd)
		ibv_dealloc_pd(st->pd);
	if (st->p.ctx)
		ibv_close_device(st->p.ctx);
	free(st);
	dev->priv = NULL;
}

/*
 * What the opened device @ctx itself rules out for the whole run, decided here for open and
 * for the per-run plan alike (backend.h: the same function decides both): rxe's RNR soft
 * lockup on this kernel, and for the ODP row a device without on-demand paging for RC RDMA
 * WRITE and READ. 0, or -ENODEV with the reason in @dev.
 */
static int verbs_device_usable(struct fp_dev *dev, struct ibv_context *ctx, bool odp)
{
	uint32_t need = IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ;
	struct ibv_device_attr_ex ex;
	char err[sizeof(dev->error)];
	struct utsname u;

	if (uname(&u) == 0 && verbs_rxe_rnr_lockup(ctx, u.release, err, sizeof(err)))
		return fp_dev_error(dev, -ENODEV, "%s", err);
	if (!odp)
		return 0;
	memset(&ex, 0, sizeof(ex));
	if (!ibv_query_device_ex(ctx, NULL, &ex) && (ex.odp_caps.general_caps & IBV_ODP_SUPPORT) &&
	    (ex.odp_caps.per_transport_caps.rc_odp_caps & need) == need)
		return 0;
	return fp_dev_error(dev, -ENODEV,
			    "%s reports no on-demand paging for RC RDMA WRITE and READ "
			    "(odp general_caps 0x%llx, rc_odp_caps 0x%x): needs a device with "
			    "ODP (mlx5, or rxe on a kernel whose rxe has ODP)",
			    ibv_get_device_name(ctx->device),
			    (unsigned long long)ex.odp_caps.general_caps,
			    ex.odp_caps.per_transport_caps.rc_odp_caps);
}

static int verbs_open_common(struct fp_dev *dev, bool odp)
{
	struct verbs_target t;
	struct verbs_state *st;
	char err[sizeof(dev->error)];
	const char *why = fp_rdma_lib_missing(FP_RDMA_IBVERBS);
	int ret;

	if (why)
		return fp_dev_error(dev, -ENODEV, "%s", why);
	ret = verbs_fork_init(dev);
	if (ret)
		return ret;
	if (verbs_parse_target(&t, err, sizeof(err)))
		return fp_dev_error(dev, -EINVAL, "%s", err);
	st = calloc(1, sizeof(*st));
	if (!st)
		return fp_dev_error(dev, -ENOMEM, "calloc(verbs state): out of memory");
	dev->priv = st;
	st->odp = odp;
	ret = verbs_resolve(&t, &st->p, err, sizeof(err));
	if (ret && getenv(VERBS_ACTIVE_AT_START)) {
		/* The run started with a usable port: losing it is a fault, not "cannot run here".
		 */
		ret = verbs_lost_since_start(dev, getenv(VERBS_ACTIVE_AT_START));
		goto err;
	}
	if (ret) {
		ret = fp_dev_error(dev, ret == -EINVAL ? -ENODEV : ret, "%s", err);
		goto err;
	}
	ret = verbs_device_usable(dev, st->p.ctx, odp);
	if (ret)
		goto err;
	st->pd = ibv_alloc_pd(st->p.ctx);
	if (!st->pd) {
		ret = fp_dev_error(dev, -errno, "ibv_alloc_pd: %s", strerror(errno));
		goto err;
	}
	st->chan = ibv_create_comp_channel(st->p.ctx);
	if (!st->chan) {
		ret = fp_dev_error(dev, -errno, "ibv_create_comp_channel: %s", strerror(errno));
		goto err;
	}
	if (fcntl(st->chan->fd, F_SETFL, fcntl(st->chan->fd, F_GETFL) | O_NONBLOCK) < 0) {
		ret = fp_dev_error(dev, -errno, "fcntl(completion channel, O_NONBLOCK): %s",
				   strerror(errno));
		goto err;
	}
	st->cq = ibv_create_cq(st->p.ctx, 16, NULL, st->chan, 0);
	if (!st->cq) {
		ret = fp_dev_error(dev, -errno, "ibv_create_cq: %s", strerror(errno));
		goto err;
	}
	st->req = verbs_create_qp(st);
	st->resp = st->req ? verbs_create_qp(st) : NULL;
	if (!st->resp) {
		ret = fp_dev_error(dev, -errno, "ibv_create_qp(RC): %s", strerror(errno));
		goto err;
	}
	ret = verbs_connect(dev, st, st->req, st->resp);
	if (!ret)
		ret = verbs_connect(dev, st, st->resp, st->req);
	if (ret)
		goto err;
	/* shared, so the staging pages never depend on the fork behaviour under test */
	st->staging_len = VERBS_MAX_TRANSFER;
	st->staging =
	    mmap(NULL, st->staging_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st->staging == MAP_FAILED) {
		st->staging = NULL;
		ret = fp_dev_error(dev, -errno, "mmap(staging, %zu bytes): %s", st->staging_len,
				   strerror(errno));
		goto err;
	}
	st->staging_mr = ibv_reg_mr(st->pd, st->staging, st->staging_len, IBV_ACCESS_LOCAL_WRITE);
	if (!st->staging_mr) {
		ret = verbs_reg_mr_error(dev, errno, "staging", st->staging_len);
		goto err;
	}
	return 0;
err:
	verbs_close(dev);
	return ret;
}

static int verbs_open(struct fp_dev *dev)
{
	return verbs_open_common(dev, false);
}

static int verbs_odp_self_test(struct fp_dev *dev, struct verbs_state *st);

static int verbs_odp_open(struct fp_dev *dev)
{
	int ret = verbs_open_common(dev, true);

	if (ret)
		return ret;
	ret = verbs_odp_self_test(dev, to_verbs_state(dev));
	if (ret)
		verbs_close(dev);
	return ret;
}

static size_t verbs_path_mtu_bytes(const struct verbs_state *st)
{
	return (size_t)128 << st->p.attr.active_mtu; /* IBV_MTU_256 is 1 ... IBV_MTU_4096 is 5 */
}

/*
 * The rxe ODP defect (docs/verbs.md, "rxe ODP defect"): rxe copies each packet's payload to or
 * from an ODP MR at the start of the page instead of at the packet's offset in the page. A
 * registration is safe from it only when every packet starts on a page boundary: the buffer
 * is page-aligned (the scenarios' transfers start at page offsets) and the path MTU is at
 * least a page. Returns 0, or -ENODEV (the case SKIPs) naming the defect and the remedy.
 */
static int verbs_odp_defect_check(struct fp_dev *dev, struct verbs_state *st, const void *addr)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), mtu = verbs_path_mtu_bytes(st);
	const char *ops = st->odp_misplaces == (VERBS_ODP_BAD_WRITE | VERBS_ODP_BAD_READ)
			      ? "RDMA WRITE and READ"
			  : st->odp_misplaces & VERBS_ODP_BAD_WRITE ? "RDMA WRITE"
								    : "RDMA READ";
	struct utsname u;
	char why[160];

	if (!st->odp_misplaces || ((uintptr_t)addr % page == 0 && mtu >= page))
		return 0;
	if ((uintptr_t)addr % page)
		snprintf(why, sizeof(why), "this buffer starts mid-page (offset 0x%zx)",
			 (size_t)((uintptr_t)addr % page));
	else
		snprintf(why, sizeof(why),
			 "the path MTU is %zu < the %zu-byte page: raise the netdev's MTU to 4096 "
			 "plus headers (e.g. ip link set fp0 mtu 9000)",
			 mtu, page);
	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "?");
	return fp_dev_error(
	    dev, -ENODEV,
	    "rxe ODP defect on kernel %s: %s into/from an ODP MR lands at the page "
	    "start when a packet starts mid-page (seen without fork by the "
	    "self-test; docs/verbs.md \"rxe ODP defect\", reproducer tests/vm/odp_min.c); "
	    "%s",
	    u.release, ops, why);
}

static int verbs_register(struct fp_dev *dev, void *addr, size_t len, enum fp_access access,
			  void **priv)
{
	struct verbs_state *st = to_verbs_state(dev);
	struct verbs_reg *r;
	int flags;

	if (access == FP_ACCESS_READ_ONLY)
		flags = IBV_ACCESS_REMOTE_READ; /* a read-only pin: no FOLL_WRITE */
	else
		flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	if (st->odp) {
		int ret = verbs_odp_defect_check(dev, st, addr);

		if (ret)
			return ret;
		flags |= IBV_ACCESS_ON_DEMAND;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return fp_dev_error(dev, -ENOMEM, "calloc(verbs registration): out of memory");
	r->mr = ibv_reg_mr(st->pd, addr, len, flags);
	if (!r->mr) {
		int err = errno;

		free(r);
		return verbs_reg_mr_error(
		    dev, err, access == FP_ACCESS_READ_ONLY ? "buffer, remote read only" : "buffer",
		    len);
	}
	r->addr = addr;
	r->len = len;
	*priv = r;
	return 0;
}

static void verbs_dereg(struct fp_dev *dev, void *reg)
{
	struct verbs_reg *r = reg;

	(void)dev;
	if (!r)
		return;
	ibv_dereg_mr(r->mr);
	free(r);
}

static int verbs_post(struct fp_dev *dev, struct verbs_reg *r, enum ibv_wr_opcode op, size_t off,
		      size_t len)
{
	struct verbs_state *st = to_verbs_state(dev);
	struct ibv_sge sge = {
	    .addr = (uintptr_t)st->staging,
	    .length = (uint32_t)len,
	    .lkey = st->staging_mr->lkey,
	};
	struct ibv_send_wr wr = {
	    .wr_id = ++st->wr_id,
	    .sg_list = &sge,
	    .num_sge = 1,
	    .opcode = op,
	    .send_flags = IBV_SEND_SIGNALED,
	    .wr.rdma =
		{
		    .remote_addr = (uintptr_t)r->addr + off,
		    .rkey = r->mr->rkey,
		},
	};
	/* zero bytes, unsignaled: RNR-NAKed until dma_wait posts the receive */
	struct ibv_send_wr gate = {
	    .wr_id = VERBS_GATE_WR_ID,
	    .opcode = IBV_WR_SEND,
	    .next = &wr,
	};
	struct ibv_send_wr *bad = NULL;
	int ret;

	if (len > st->staging_len || off > r->len || len > r->len - off)
		return fp_dev_error(dev, -EINVAL,
				    "%s of %zu bytes at offset %zu: outside the %zu-byte "
				    "registration or the %zu-byte staging buffer",
				    verbs_opcode_str(op), len, off, r->len, st->staging_len);
	/* registration checked the buffer and the MTU; a mid-page start would hit it too */
	if (st->odp_misplaces && ((uintptr_t)r->addr + off) % (size_t)sysconf(_SC_PAGESIZE))
		return fp_dev_error(dev, -ENODEV,
				    "%s at offset %zu starts mid-page: the rxe ODP defect "
				    "(docs/verbs.md) would misplace it",
				    verbs_opcode_str(op), off);
	st->opcode = op;
	st->off = off;
	st->len = len;
	if (len == 0) { /* nothing to move: dma_wait has nothing to wait for */
		st->posted = false;
		return 0;
	}
	ret = ibv_post_send(st->req, &gate, &bad);
	if (ret)
		return fp_dev_error(dev, -ret,
				    "ibv_post_send(gate SEND + %s, %zu bytes at offset %zu): %s",
				    verbs_opcode_str(op), len, off, strerror(ret));
	st->posted = true;
	return 0;
}

static int verbs_dma_to_host_start(struct fp_dev *dev, void *reg, size_t off, const void *src,
				   size_t len)
{
	struct verbs_state *st = to_verbs_state(dev);

	if (len <= st->staging_len)
		memcpy(st->staging, src, len);
	st->dst = NULL;
	return verbs_post(dev, reg, IBV_WR_RDMA_WRITE, off, len);
}

static int verbs_dma_from_host_start(struct fp_dev *dev, void *reg, size_t off, void *dst,
				     size_t len)
{
	struct verbs_state *st = to_verbs_state(dev);

	st->dst = dst;
	return verbs_post(dev, reg, IBV_WR_RDMA_READ, off, len);
}

static const char *verbs_qp_state_now(struct ibv_qp *qp)
{
	struct ibv_qp_attr attr;
	struct ibv_qp_init_attr init;

	if (ibv_query_qp(qp, &attr, IBV_QP_STATE, &init))
		return "unknown";
	return verbs_qp_state_str(attr.qp_state);
}

/* What a completion belongs to, for messages. */
static const char *verbs_wc_what(const struct verbs_state *st, uint64_t wr_id)
{
	if (wr_id == VERBS_GATE_WR_ID)
		return "the gate SEND";
	if (wr_id == VERBS_OPEN_WR_ID)
		return "the gate receive";
	return verbs_opcode_str(st->opcode);
}

/* Open the gate: the receive that lets the queued SEND, and the transfer behind it, go. */
static int verbs_open_gate(struct fp_dev *dev, struct verbs_state *st)
{
	struct ibv_recv_wr wr = {.wr_id = VERBS_OPEN_WR_ID}, *bad = NULL;
	int ret = ibv_post_recv(st->resp, &wr, &bad);

	if (ret)
		return fp_dev_error(dev, -ret, "ibv_post_recv(gate, responder QP %u is %s): %s",
				    st->resp->qp_num, verbs_qp_state_now(st->resp), strerror(ret));
	return 0;
}

/* Sleep on the completion channel until an event or the deadline. */
static void verbs_sleep_cq(struct verbs_state *st, uint64_t deadline, uint64_t now)
{
	struct pollfd pfd = {.fd = st->chan->fd, .events = POLLIN};
	int ms = (int)((deadline - now) / 1000000u) + 1;

	if (poll(&pfd, 1, ms) > 0) {
		struct ibv_cq *cq;
		void *cq_ctx;

		if (ibv_get_cq_event(st->chan, &cq, &cq_ctx) == 0)
			ibv_ack_cq_events(cq, 1);
	}
}

static int verbs_dma_wait(struct fp_dev *dev, void *reg)
{
	struct verbs_state *st = to_verbs_state(dev);
	uint64_t deadline = fp_now_ns() + (uint64_t)VERBS_DEADLINE_MS * 1000000u;
	bool armed = false;
	int ret;

	(void)reg;
	if (!st->posted)
		goto done;
	st->posted = false;
	ret = verbs_open_gate(dev, st);
	if (ret)
		return ret;
	for (;;) {
		struct ibv_wc wc;
		int n = ibv_poll_cq(st->cq, 1, &wc);
		uint64_t now;

		if (n < 0)
			return fp_dev_error(dev, -EIO, "ibv_poll_cq: failed (%d) waiting for %s", n,
					    verbs_opcode_str(st->opcode));
		if (n == 1 && wc.status != IBV_WC_SUCCESS)
			return fp_dev_error(
			    dev, -EIO,
			    "%s (%s of %zu bytes at offset %zu) completed with status '%s' "
			    "(%d, vendor error 0x%x); requester QP %u is now %s",
			    verbs_wc_what(st, wc.wr_id), verbs_opcode_str(st->opcode), st->len,
			    st->off, ibv_wc_status_str(wc.status), wc.status, wc.vendor_err,
			    st->req->qp_num, verbs_qp_state_now(st->req));
		if (n == 1 && wc.wr_id == st->wr_id)
			break;
		if (n == 1)
			continue; /* the gate's receive, or an earlier transfer's leftovers */
		now = fp_now_ns();
		if (now >= deadline)
			return fp_dev_error(
			    dev, -ETIMEDOUT,
			    "%s of %zu bytes at offset %zu: no completion within %d ms after "
			    "opening the gate; requester QP %u is %s, responder QP %u is %s",
			    verbs_opcode_str(st->opcode), st->len, st->off, VERBS_DEADLINE_MS,
			    st->req->qp_num, verbs_qp_state_now(st->req), st->resp->qp_num,
			    verbs_qp_state_now(st->resp));
		if (!armed) {
			/* arm, then poll again before sleeping: no completion slips between */
			if (ibv_req_notify_cq(st->cq, 0))
				return fp_dev_error(dev, -EIO, "ibv_req_notify_cq: %s",
						    strerror(errno));
			armed = true;
			continue;
		}
		verbs_sleep_cq(st, deadline, now);
		armed = false;
	}
done:
	if (st->opcode == IBV_WR_RDMA_READ && st->dst && st->len)
		memcpy(st->dst, st->staging, st->len);
	return 0;
}

static bool verbs_all_bytes(const unsigned char *p, unsigned char v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* One transfer through the case path (gate, completion, deadline) for the self-test. */
static int verbs_odp_probe(struct fp_dev *dev, struct verbs_reg *r, enum ibv_wr_opcode op,
			   size_t off, size_t len)
{
	int ret = verbs_post(dev, r, op, off, len);

	return ret ? ret : verbs_dma_wait(dev, r);
}

/*
 * The ODP self-test, in open, before the case: a fresh ODP page, no fork; a 64-byte RDMA
 * WRITE into the middle of it, then a 64-byte RDMA READ from the middle. On rxe from 6.14
 * (when it got ODP) to at least 7.2 both land at the page start (docs/verbs.md, "rxe ODP
 * defect"): recorded in st->odp_misplaces, and verbs_register then SKIPs the registrations
 * the defect would corrupt. Any other device that misplaces data is broken: an error.
 */
static int verbs_odp_self_test(struct fp_dev *dev, struct verbs_state *st)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), off = page / 2, len = 64;
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
		     IBV_ACCESS_ON_DEMAND;
	struct verbs_reg r = {.len = page};
	struct ibv_device_attr da;
	unsigned misplaced = 0; /* into st->odp_misplaces at the end: verbs_post checks it */
	unsigned char *p;
	int ret;

	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return fp_dev_error(dev, -errno, "mmap(ODP self-test page): %s", strerror(errno));
	memset(p, 0, page);
	r.addr = p;
	r.mr = ibv_reg_mr(st->pd, p, page, access);
	if (!r.mr) {
		ret = verbs_reg_mr_error(dev, errno, "ODP self-test page", page);
		goto out_unmap;
	}
	memset(st->staging, 0xa5, len);
	st->dst = NULL;
	ret = verbs_odp_probe(dev, &r, IBV_WR_RDMA_WRITE, off, len);
	if (ret)
		goto out;
	if (!verbs_all_bytes(p + off, 0xa5, len))
		misplaced |= VERBS_ODP_BAD_WRITE;
	memset(p + off, 0x5a, len);
	memset(st->staging, 0, len);
	ret = verbs_odp_probe(dev, &r, IBV_WR_RDMA_READ, off, len);
	if (ret)
		goto out;
	if (!verbs_all_bytes(st->staging, 0x5a, len))
		misplaced |= VERBS_ODP_BAD_READ;
	st->odp_misplaces = misplaced;
	if (misplaced && (ibv_query_device(st->p.ctx, &da) || da.vendor_id != VERBS_RXE_VENDOR_ID))
		ret = fp_dev_error(
		    dev, -EIO,
		    "ODP self-test: %s moved 64 bytes at page offset %zu to the wrong "
		    "place (%s%s), without any fork: the device or its driver is broken",
		    ibv_get_device_name(st->p.ctx->device), off,
		    misplaced & VERBS_ODP_BAD_WRITE ? "RDMA WRITE " : "",
		    misplaced & VERBS_ODP_BAD_READ ? "RDMA READ" : "");
out:
	ibv_dereg_mr(r.mr);
out_unmap:
	munmap(p, page);
	return ret;
}

/*
 * The per-run SKIP plan: no usable device for this run when check_options found none, or a
 * device that open rules out for the whole run (verbs_device_usable: rxe's RNR lockup, no
 * ODP for the @odp row). It takes open's own steps (fork-init, the target, verbs_resolve,
 * verbs_device_usable), so a SKIP planned here has the message every case's open would have
 * given. A port that was ACTIVE at the start and cannot be resolved now is not planned away:
 * losing it is each case's error to report.
 */
static int verbs_plan_common(struct fp_dev *dev, bool odp)
{
	char err[sizeof(dev->error)];
	struct verbs_target t;
	struct verbs_port p;
	const char *why = fp_rdma_lib_missing(FP_RDMA_IBVERBS);
	int ret;

	if (why)
		return fp_dev_error(dev, -ENODEV, "%s", why);
	ret = verbs_fork_init(dev);
	if (ret)
		return ret;
	if (verbs_parse_target(&t, err, sizeof(err)))
		return 0; /* open's -EINVAL: not a SKIP, each case reports it */
	ret = verbs_resolve(&t, &p, err, sizeof(err));
	if (ret && getenv(VERBS_ACTIVE_AT_START))
		return 0; /* lost since the start: a fault each case reports, not a SKIP */
	if (ret)
		return fp_dev_error(dev, ret == -EINVAL ? -ENODEV : ret, "%s", err);
	ret = verbs_device_usable(dev, p.ctx, odp);
	ibv_close_device(p.ctx);
	return ret;
}

static int verbs_plan(struct fp_dev *dev)
{
	return verbs_plan_common(dev, false);
}

static int verbs_odp_plan(struct fp_dev *dev)
{
	return verbs_plan_common(dev, true);
}

/* --- options, in the main process (the fingerprint is in verbs_env.c) --- */

/* check_options' bound on its child (device list, open and query of each device) */
#define VERBS_QUERY_MS 10000

/* In check_options' child: 0 and the device's name, 1 (-ENODEV) or 2 (-EINVAL) and why, 3
 * when libibverbs is not installed. */
static int verbs_resolve_child(void *arg, char *out, size_t size)
{
	struct verbs_port p;
	int ret;

	if (fp_rdma_lib_missing(FP_RDMA_IBVERBS))
		return 3;
	ret = verbs_resolve(arg, &p, out, size);
	if (ret)
		return ret == -EINVAL ? 2 : 1;
	snprintf(out, size, "%s", ibv_get_device_name(p.ctx->device));
	ibv_close_device(p.ctx);
	return 0;
}

/* The target is resolved in a child: libibverbs is never loaded into the main process (see
 * rdma_lib.c). */
static int verbs_check_options(char *err, size_t err_size)
{
	struct verbs_target t;
	int ret;

	ret = verbs_parse_target(&t, err, err_size);
	if (ret)
		return ret;
	ret = fp_text_from_child(verbs_resolve_child, &t, err, err_size, VERBS_QUERY_MS);
	if (ret == 0) {
		/* The case processes inherit it: a port lost later is then an ERROR, not a SKIP. */
		setenv(VERBS_ACTIVE_AT_START, err, 1);
		err[0] = '\0';
		return 0;
	}
	/* nothing asked for and nothing there, no libibverbs, or the query failed: the cases
	 * SKIP with the reason (or find out for themselves) */
	if ((ret == 1 && !t.device[0] && t.gid_index < 0) || (ret != 1 && ret != 2)) {
		err[0] = '\0';
		return 0;
	}
	return -EINVAL;
}

static const struct fp_backend_ops verbs_ops = {
    .open = verbs_open,
    .reg = verbs_register,
    .dma_to_host_start = verbs_dma_to_host_start,
    .dma_from_host_start = verbs_dma_from_host_start,
    .dma_wait = verbs_dma_wait,
    .dereg = verbs_dereg,
    .close = verbs_close,
    .fingerprint = verbs_fingerprint,
    .check_options = verbs_check_options,
    .plan = verbs_plan,
};

/* Same hooks; open() demands ODP RC caps and reg() adds IBV_ACCESS_ON_DEMAND. No fingerprint:
 * the verbs row reports the shared stack once. */
static const struct fp_backend_ops verbs_odp_ops = {
    .open = verbs_odp_open,
    .reg = verbs_register,
    .dma_to_host_start = verbs_dma_to_host_start,
    .dma_from_host_start = verbs_dma_from_host_start,
    .dma_wait = verbs_dma_wait,
    .dereg = verbs_dereg,
    .close = verbs_close,
    .check_options = verbs_check_options,
    .plan = verbs_odp_plan,
};

#define VERBS_OPS	  (&verbs_ops)
#define VERBS_ODP_OPS	  (&verbs_odp_ops)
#define VERBS_UNAVAILABLE NULL
#else
#define VERBS_OPS	  NULL
#define VERBS_ODP_OPS	  NULL
#define VERBS_UNAVAILABLE "built without libibverbs: install libibverbs-dev and reconfigure"
#endif /* HAVE_LIBIBVERBS */

const struct fp_backend fp_verbs_backend = {
    .name = "verbs",
    .summary = "RDMA verbs: ibv_reg_mr pins, RDMA WRITE/READ over a loopback RC QP pair",
    .caps = VERBS_CAPS | FP_CAP_PINS | FP_CAP_READ_ONLY_PIN,
    .limits =
	{
	    .max_transfer = VERBS_MAX_TRANSFER,
	    .case_budget = VERBS_CASE_BUDGET,
	    .align = 1,
	},
    .unavailable = VERBS_UNAVAILABLE,
    .ops = VERBS_OPS,
    .options = verbs_options,
};

/* Shares the verbs row's options (listed once, under verbs). */
const struct fp_backend fp_verbs_odp_backend = {
    .name = "verbs-odp",
    .summary = "RDMA verbs with on-demand paging MRs (no pins: the device follows MMU "
	       "notifiers)",
    .caps = VERBS_CAPS,
    .limits =
	{
	    .max_transfer = VERBS_MAX_TRANSFER,
	    .case_budget = VERBS_CASE_BUDGET,
	    .align = 1,
	},
    .unavailable = VERBS_UNAVAILABLE,
    .ops = VERBS_ODP_OPS,
};
