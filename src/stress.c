/* SPDX-License-Identifier: MIT */
/*
 * forkpin stress: the pin-vs-fork race stressor.
 *
 * The race (fixed in 5.11 by mm->write_protect_seq, 57efa1fe5957): GUP-fast pins a page
 * without the mmap lock while fork() write-protects the same PTE to share it with the child.
 * If fork has already decided "not pinned, share it" when the pin lands, the pinned page is
 * shared, the parent's next write gives the parent a fresh copy, and the device keeps
 * writing into the old page: lost DMA, exactly the parent-writes failure.
 *
 * Threads, per backend:
 * - workers (--threads): each with its own fp_dev and buffer, loop: fill the buffer (taking
 *   copy-on-write faults on PTEs the last fork write-protected, or fresh faults on odd
 *   iterations, which drop the pages first), register (the pin), write the whole buffer
 *   again (the fault that would give the parent a new page), let the device write spans of
 *   it, check every page (verify.h: device data in the spans, the parent's data elsewhere),
 *   deregister;
 * - the forker: forks without pause; each child writes one word in every page of every
 *   buffer and exits; at most FORKER_INFLIGHT children are alive at once;
 * - the writer: rewrites the buffers of workers that are filling or pinning with the same
 *   words, so copy-on-write faults run beside the pins and the forks.
 *
 * Overlap: the forker bumps fork_seq before fork() (odd: a fork in progress) and after it
 * returns (even). A worker reads it before and after its register call; the registration
 * overlapped a fork when the first read was odd or the two differ. This is measured in user
 * space, so it is a superset of the kernel's window (copy_page_range under the mmap write
 * lock) but a registration outside it certainly did not race.
 */
#define _GNU_SOURCE
#include "backend.h"
#include "cmd.h"
#include "report_file.h"
#include "env.h"
#include "report.h"
#include "subcommands.h"
#include "util.h"
#include "verify.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* One-line usage errors, exit 2. */
#define WHO		 "forkpin stress"
#define usage_error(...) fp_usage_error(WHO, __VA_ARGS__)

#define MAX_THREADS	   64
#define MAX_FAILURE_LOG	   32
#define PRINTED_FAILURES   5
#define FORKER_INFLIGHT	   4
#define DEFAULT_SIZE	   (64ul << 10)
#define MAX_SIZE	   (64ul << 20)
#define DEFAULT_DURATION_S 5.0
#define PROGRESS_PERIOD_NS 500000000ull
#define CONTROL_PERIOD_US  20000
#define STRESS_PAGE	   4096ul

struct stress_opts {
	double duration_s;	  /* 0: no time limit (only with --iterations) */
	unsigned long iterations; /* per backend, over all workers; 0: no limit */
	unsigned threads;
	size_t size; /* per worker buffer */
	uint64_t seed;
	const char *json_path;
	const char *backends[16];
	size_t nbackends;
	unsigned inject_every; /* test aid: MADV_DONTNEED after registering, every Nth iter */
	bool progress;
};

/* One failed check, as reported. */
struct stress_failure {
	unsigned thread;
	uint64_t iteration; /* the worker's own iteration count, from 0 */
	double elapsed_s;
	bool overlapped; /* its registration overlapped a fork in progress */
	bool injected;	 /* --inject broke this iteration on purpose */
	bool in_child;	 /* found by a forked child checking its own view, not by a worker */
	char diagnosis[400];
};

struct stress_run;

struct worker {
	struct stress_run *run;
	unsigned id;
	struct fp_dev dev;
	bool open;
	char *buf;
	size_t len;
	char *src;  /* the device's source data for one span */
	char *snap; /* a forked child's copy of its view of buf, taken right after fork */
	/* Held by the worker while it owns the buffer's contents (post-pin write, DMA, check),
	 * by the writer while it rewrites; the writer only tries it. */
	pthread_mutex_t lock;
	atomic_bool writable; /* the writer may rewrite the buffer now */
	atomic_bool dontfork; /* the backend made the range MADV_DONTFORK: children skip it */
	pthread_t thread;
	bool started;
};

struct stress_run {
	const struct fp_backend *be;
	const struct stress_opts *opt;
	uint64_t start_ns;
	atomic_uint_fast64_t fork_seq; /* odd while a fork() is in progress */
	atomic_bool stop;
	atomic_uint_fast64_t claimed; /* iterations handed out, for --iterations */
	atomic_uint_fast64_t iterations, registrations, overlaps, inside, forks, fork_errors,
	    children_signalled, writer_passes, failures;
	pthread_mutex_t log_lock;
	struct stress_failure log[MAX_FAILURE_LOG];
	size_t nlog;
	char error[600]; /* the first operational error (register, DMA), or "" */
	char note[600];
	unsigned workers_open;
	atomic_uint workers_running;
	struct worker w[MAX_THREADS];
};

enum stress_verdict { STRESS_PASS, STRESS_FAIL, STRESS_ERROR, STRESS_SKIP };

static const char *const stress_verdict_names[] = {[STRESS_PASS] = "pass",
						   [STRESS_FAIL] = "fail",
						   [STRESS_ERROR] = "error",
						   [STRESS_SKIP] = "skip"};

/* The verdict and figures of one backend's run, for stdout and JSON. */
struct stress_result {
	const char *backend;
	enum stress_verdict verdict;
	char reason[600];
	struct stress_run *run; /* NULL when skipped before starting */
	double elapsed_s;
	bool interrupted;
};

/* The signal that stopped the run (SIGINT, SIGTERM, SIGHUP), 0 while none did. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	interrupted = sig;
}

static double elapsed_s(const struct stress_run *run)
{
	return (double)(fp_now_ns() - run->start_ns) / 1e9;
}

static uint64_t load(atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void bump(atomic_uint_fast64_t *v)
{
	atomic_fetch_add_explicit(v, 1, memory_order_relaxed);
}

static void record_error(struct stress_run *run, unsigned thread, const char *what,
			 const char *detail)
{
	pthread_mutex_lock(&run->log_lock);
	if (!run->error[0])
		snprintf(run->error, sizeof(run->error), "thread %u: %s: %s", thread, what, detail);
	pthread_mutex_unlock(&run->log_lock);
	atomic_store(&run->stop, true); /* an operational error is systematic: end the run */
}

static void record_child_failure(struct stress_run *run)
{
	bump(&run->failures);
	pthread_mutex_lock(&run->log_lock);
	if (run->nlog < MAX_FAILURE_LOG) {
		struct stress_failure *f = &run->log[run->nlog++];

		memset(f, 0, sizeof(*f));
		f->elapsed_s = elapsed_s(run);
		f->in_child = true;
		snprintf(f->diagnosis, sizeof(f->diagnosis),
			 "child: its private copy of a buffer changed after fork: device data "
			 "leaked into the child: the child maps the pinned page");
	}
	pthread_mutex_unlock(&run->log_lock);
}

/* ---- the forker and the writer ------------------------------------------------------------ */

/* How a forker's child ends when its own copy of a buffer changed after fork. */
#define CHILD_VIEW_CHANGED 3
/* How long a child watches its copy: long enough for a DMA queued at fork time to land. */
#define CHILD_WATCH_NS 1000000

/*
 * Did the child's copy of the buffers change after fork? Nothing but the device can write
 * into a private page only the child maps, and only if fork handed the child the pinned
 * page: whatever the parent does afterwards stays in the parent's pages.
 */
static bool child_view_changed(struct stress_run *run)
{
	const struct timespec watch = {0, CHILD_WATCH_NS};
	bool changed = false;
	unsigned i;

	for (i = 0; i < run->opt->threads; i++) {
		struct worker *w = &run->w[i];

		if (w->open && !atomic_load(&w->dontfork))
			memcpy(w->snap, w->buf, w->len);
	}
	nanosleep(&watch, NULL);
	for (i = 0; i < run->opt->threads; i++) {
		struct worker *w = &run->w[i];

		if (w->open && !atomic_load(&w->dontfork) && memcmp(w->snap, w->buf, w->len))
			changed = true;
	}
	return changed;
}

/* In a child of the forker: check that its copy does not change under it, then write one word
 * per page of every buffer (COW faults in the child) and exit. Only async-signal-safe work
 * (memcpy, nanosleep): the other threads do not exist here. */
static void __attribute__((noreturn)) child_touch(struct stress_run *run)
{
	unsigned i;
	size_t off;

	if (child_view_changed(run))
		_exit(CHILD_VIEW_CHANGED);
	for (i = 0; i < run->opt->threads; i++) {
		struct worker *w = &run->w[i];

		if (!w->open || atomic_load(&w->dontfork))
			continue;
		for (off = 0; off < w->len; off += STRESS_PAGE)
			*(volatile uint64_t *)(w->buf + off) =
			    fp_pattern_word(run->opt->seed, FP_CHILD, off);
	}
	_exit(0);
}

static void reap_child(struct stress_run *run, pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status))
		bump(&run->children_signalled);
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_VIEW_CHANGED)
		record_child_failure(run);
}

static void *forker_main(void *arg)
{
	struct stress_run *run = arg;
	pid_t inflight[FORKER_INFLIGHT];
	size_t head = 0, n = 0;

	while (!atomic_load(&run->stop)) {
		pid_t pid;

		atomic_fetch_add(&run->fork_seq, 1); /* odd: fork in progress */
		pid = fork();
		if (pid == 0)
			child_touch(run);
		atomic_fetch_add(&run->fork_seq, 1);
		if (pid < 0) {
			bump(&run->fork_errors);
			usleep(1000); /* EAGAIN/ENOMEM: let the system breathe */
			continue;
		}
		bump(&run->forks);
		if (n == FORKER_INFLIGHT) {
			reap_child(run, inflight[head]);
			inflight[head] = pid;
			head = (head + 1) % FORKER_INFLIGHT;
		} else {
			inflight[(head + n++) % FORKER_INFLIGHT] = pid;
		}
	}
	for (; n; n--, head = (head + 1) % FORKER_INFLIGHT)
		reap_child(run, inflight[head]);
	return NULL;
}

/* Rewrite the first word of every page of the buffers that are being filled or pinned. */
static void *writer_main(void *arg)
{
	struct stress_run *run = arg;

	while (!atomic_load(&run->stop)) {
		bool wrote = false;
		unsigned i;

		for (i = 0; i < run->opt->threads; i++) {
			struct worker *w = &run->w[i];
			size_t off;

			if (!w->open || !atomic_load(&w->writable) ||
			    pthread_mutex_trylock(&w->lock))
				continue;
			/* Writing back what is there keeps whatever the fill put in place; the
			 * worker overwrites everything under the lock after the pin anyway. */
			if (atomic_load(&w->writable)) {
				for (off = 0; off < w->len; off += STRESS_PAGE)
					*(volatile uint64_t *)(w->buf + off) =
					    *(volatile uint64_t *)(w->buf + off);
				wrote = true;
			}
			pthread_mutex_unlock(&w->lock);
		}
		if (wrote)
			bump(&run->writer_passes);
		sched_yield(); /* one pass per turn: the forker and the workers need the CPUs */
	}
	return NULL;
}

/* ---- the workers ------------------------------------------------------------------------ */

/* What the device writes each iteration: spans of one transfer at the start of some pages. */
struct span_plan {
	size_t span;   /* bytes per span */
	size_t nspans; /* spans per iteration */
	size_t npages;
};

static void plan_spans(const struct fp_backend *be, size_t len, struct span_plan *sp)
{
	const struct fp_limits *lim = &be->limits;
	size_t budget = lim->case_budget ? lim->case_budget : len;

	sp->npages = len / STRESS_PAGE;
	sp->span = STRESS_PAGE;
	if (lim->max_transfer && sp->span > lim->max_transfer)
		sp->span = lim->max_transfer;
	if (lim->align > 1)
		sp->span -= sp->span % lim->align;
	if (!sp->span)
		sp->span = lim->align > 1 ? lim->align : 1;
	sp->nspans = budget / sp->span;
	if (sp->nspans < 1)
		sp->nspans = 1;
	if (sp->nspans > sp->npages)
		sp->nspans = sp->npages;
}

/* Is page @p one the device writes in iteration @it? Rotates so every page gets its turn. */
static bool page_selected(const struct span_plan *sp, uint64_t it, size_t p)
{
	size_t stride = sp->npages / sp->nspans;
	size_t rel = (p + sp->npages - (size_t)(it % sp->npages)) % sp->npages;

	return rel % stride == 0 && rel / stride < sp->nspans;
}

static uint64_t iteration_seed(const struct stress_run *run, unsigned id, uint64_t it)
{
	return run->opt->seed ^ ((uint64_t)(id + 1) << 40) ^ (it * 0x9e3779b97f4a7c15ull);
}

/* The device writes its data into this iteration's spans. 0 or the dispatcher's error. */
static int device_writes(struct worker *w, const struct span_plan *sp, uint64_t it, uint64_t seed)
{
	size_t p;

	for (p = 0; p < sp->npages; p++) {
		size_t off = p * STRESS_PAGE;
		int err;

		if (!page_selected(sp, it, p))
			continue;
		fp_pattern_fill(w->src, off, sp->span, seed, FP_DEVICE);
		err = fp_dev_dma_to_host(&w->dev, off, w->src, sp->span);
		if (err)
			return err;
	}
	return 0;
}

/* Check the whole buffer: device data in the spans, the parent's post-pin data elsewhere.
 * Returns true when good; else the diagnosis (verify.h wording) is in @text. */
static bool check_buffer(struct worker *w, const struct span_plan *sp, uint64_t it, uint64_t seed,
			 char *text, size_t size)
{
	struct fp_check in = {0}, out = {0};
	size_t p;

	for (p = 0; p < sp->npages; p++) {
		size_t off = p * STRESS_PAGE, done = 0;

		if (page_selected(sp, it, p)) {
			fp_check_span(&in, w->buf + off, off, sp->span, STRESS_PAGE, seed,
				      FP_DEVICE);
			done = sp->span;
		}
		if (done < STRESS_PAGE)
			fp_check_span(&out, w->buf + off + done, off + done, STRESS_PAGE - done,
				      STRESS_PAGE, seed, FP_PARENT_NEW);
	}
	if (in.bad_pages) {
		fp_check_diagnose(&in, FP_OBS_PARENT, FP_DEVICE, text, size);
		return false;
	}
	if (out.bad_pages) {
		fp_check_diagnose(&out, FP_OBS_PARENT, FP_PARENT_NEW, text, size);
		return false;
	}
	return true;
}

static void record_failure(struct worker *w, uint64_t it, bool overlapped, bool injected,
			   const char *text)
{
	struct stress_run *run = w->run;

	bump(&run->failures);
	pthread_mutex_lock(&run->log_lock);
	if (run->nlog < MAX_FAILURE_LOG) {
		struct stress_failure *f = &run->log[run->nlog++];

		f->thread = w->id;
		f->iteration = it;
		f->elapsed_s = elapsed_s(run);
		f->overlapped = overlapped;
		f->injected = injected;
		snprintf(f->diagnosis, sizeof(f->diagnosis), "%s", text);
	}
	pthread_mutex_unlock(&run->log_lock);
}

/* May this worker start another iteration? */
static bool claim_iteration(struct stress_run *run)
{
	if (atomic_load(&run->stop))
		return false;
	if (!run->opt->iterations)
		return true;
	return atomic_fetch_add(&run->claimed, 1) < run->opt->iterations;
}

/* Register with the fork sequence read around the call: did the pin overlap a fork? */
static int register_watched(struct worker *w, bool *overlapped, bool *inside)
{
	struct stress_run *run = w->run;
	uint64_t s1 = atomic_load(&run->fork_seq), s2;
	int err = fp_dev_register(&w->dev, w->buf, w->len, FP_ACCESS_READ_WRITE);

	s2 = atomic_load(&run->fork_seq);
	*overlapped = (s1 & 1) || s2 != s1;
	*inside = (s1 & 1) && s2 == s1;
	return err;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct stress_run *run = w->run;
	const struct stress_opts *opt = run->opt;
	struct span_plan sp;
	uint64_t it;
	char text[400];

	plan_spans(run->be, w->len, &sp);
	pthread_mutex_lock(&w->lock);
	for (it = 0; claim_iteration(run); it++) {
		uint64_t seed = iteration_seed(run, w->id, it);
		bool overlapped, inside, injected = false;
		int err;

		/* Odd iterations pin freshly faulted pages, even ones re-fault the pages the
		 * last forks write-protected (copy-on-write or reuse). */
		if (it & 1)
			madvise(w->buf, w->len, MADV_DONTNEED);
		atomic_store(&w->writable, true);
		pthread_mutex_unlock(&w->lock);
		fp_pattern_fill(w->buf, 0, w->len, seed, FP_PARENT_OLD);
		err = register_watched(w, &overlapped, &inside);
		pthread_mutex_lock(&w->lock);
		atomic_store(&w->writable, false);
		if (err) {
			record_error(run, w->id, "register", w->dev.error);
			break;
		}
		bump(&run->registrations);
		if (overlapped)
			bump(&run->overlaps);
		if (inside)
			bump(&run->inside);
		if (it == 0 && fp_smaps_has_flag(w->buf, "dc") == 1)
			atomic_store(&w->dontfork, true);
		if (opt->inject_every && it % opt->inject_every == opt->inject_every - 1) {
			/* test aid: the parent's pages are replaced, the device keeps the old */
			madvise(w->buf, w->len, MADV_DONTNEED);
			injected = true;
		}
		fp_pattern_fill(w->buf, 0, w->len, seed, FP_PARENT_NEW);
		err = device_writes(w, &sp, it, seed);
		if (err) {
			record_error(run, w->id, "device write", w->dev.error);
			fp_dev_deregister(&w->dev);
			break;
		}
		if (!check_buffer(w, &sp, it, seed, text, sizeof(text)))
			record_failure(w, it, overlapped, injected, text);
		fp_dev_deregister(&w->dev);
		bump(&run->iterations);
	}
	atomic_store(&w->writable, false);
	pthread_mutex_unlock(&w->lock);
	atomic_fetch_sub(&run->workers_running, 1);
	return NULL;
}

/* ---- one backend's run ------------------------------------------------------------------- */

static void progress_line(struct stress_run *run, bool final)
{
	double t = elapsed_s(run), d = t > 0 ? t : 1;

	fprintf(stderr,
		"\r%s: %.1f s  %llu iter (%.0f/s)  %llu forks (%.0f/s)  %llu overlaps (%.0f/s)  "
		"%llu failures%s",
		run->be->name, t, (unsigned long long)load(&run->iterations),
		(double)load(&run->iterations) / d, (unsigned long long)load(&run->forks),
		(double)load(&run->forks) / d, (unsigned long long)load(&run->overlaps),
		(double)load(&run->overlaps) / d, (unsigned long long)load(&run->failures),
		final ? "\n" : "\033[K");
	fflush(stderr);
}

/* Open a device and map a buffer per worker; workers past the first that cannot open are
 * left out (a device may allow one user per process) and noted. */
static int open_workers(struct stress_run *run, char *why, size_t why_size)
{
	const struct stress_opts *opt = run->opt;
	unsigned i;

	for (i = 0; i < opt->threads; i++) {
		struct worker *w = &run->w[i];
		int err;

		w->run = run;
		w->id = i;
		w->len = opt->size;
		pthread_mutex_init(&w->lock, NULL);
		w->buf =
		    mmap(NULL, w->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		w->src = malloc(STRESS_PAGE);
		w->snap = malloc(w->len);
		if (w->buf == MAP_FAILED || !w->src || !w->snap) {
			if (w->buf == MAP_FAILED)
				w->buf = NULL;
			snprintf(why, why_size, "mapping a %zu-byte buffer: %s", w->len,
				 strerror(errno));
			return -ENOMEM;
		}
		madvise(w->buf, w->len, MADV_NOHUGEPAGE); /* the race is on PTEs */
		err = fp_dev_open(&w->dev, run->be);
		if (err && i == 0) {
			snprintf(why, why_size, "%s", w->dev.error);
			return err;
		}
		if (err) {
			snprintf(run->note, sizeof(run->note),
				 "ran %u of %u threads: opening another device failed: %s", i,
				 opt->threads, w->dev.error);
			break;
		}
		w->open = true;
		run->workers_open++;
	}
	return 0;
}

static void close_workers(struct stress_run *run)
{
	unsigned i;

	for (i = 0; i < run->opt->threads; i++) {
		struct worker *w = &run->w[i];

		if (w->open)
			fp_dev_close(&w->dev);
		if (w->buf)
			munmap(w->buf, w->len);
		free(w->src);
		free(w->snap);
		if (w->run)
			pthread_mutex_destroy(&w->lock);
	}
}

/* The control loop: progress, deadline, SIGINT, workers all done. */
static void supervise(struct stress_run *run)
{
	const struct stress_opts *opt = run->opt;
	uint64_t deadline =
	    opt->duration_s > 0 ? run->start_ns + (uint64_t)(opt->duration_s * 1e9) : UINT64_MAX;
	uint64_t next_progress = run->start_ns + PROGRESS_PERIOD_NS;

	while (!atomic_load(&run->stop)) {
		uint64_t now = fp_now_ns();

		if (interrupted || now >= deadline || !atomic_load(&run->workers_running))
			break;
		if (opt->progress && now >= next_progress) {
			progress_line(run, false);
			next_progress = now + PROGRESS_PERIOD_NS;
		}
		usleep(CONTROL_PERIOD_US);
	}
	atomic_store(&run->stop, true);
}

static void run_backend(const struct fp_backend *be, const struct stress_opts *opt,
			struct stress_result *res)
{
	struct stress_run *run = calloc(1, sizeof(*run));
	pthread_t forker, writer;
	bool forker_started = false, writer_started = false;
	unsigned i;
	int err;

	memset(res, 0, sizeof(*res));
	res->backend = be->name;
	if (!run) {
		res->verdict = STRESS_ERROR;
		snprintf(res->reason, sizeof(res->reason), "out of memory");
		return;
	}
	run->be = be;
	run->opt = opt;
	pthread_mutex_init(&run->log_lock, NULL);
	if (be->unavailable) {
		res->verdict = STRESS_SKIP;
		snprintf(res->reason, sizeof(res->reason), "%s", be->unavailable);
		goto free_run;
	}
	err = open_workers(run, res->reason, sizeof(res->reason));
	if (err) {
		res->verdict = err == -ENODEV || err == -EOPNOTSUPP ? STRESS_SKIP : STRESS_ERROR;
		goto close;
	}
	res->run = run;
	run->start_ns = fp_now_ns();
	atomic_store(&run->workers_running, run->workers_open);
	for (i = 0; i < run->workers_open; i++)
		run->w[i].started =
		    !pthread_create(&run->w[i].thread, NULL, worker_main, &run->w[i]);
	for (i = 0; i < run->workers_open; i++)
		if (!run->w[i].started)
			atomic_fetch_sub(&run->workers_running, 1);
	forker_started = !pthread_create(&forker, NULL, forker_main, run);
	writer_started = !pthread_create(&writer, NULL, writer_main, run);
	supervise(run);
	for (i = 0; i < run->workers_open; i++)
		if (run->w[i].started)
			pthread_join(run->w[i].thread, NULL);
	if (forker_started)
		pthread_join(forker, NULL);
	if (writer_started)
		pthread_join(writer, NULL);
	res->elapsed_s = elapsed_s(run);
	res->interrupted = interrupted;
	if (opt->progress)
		progress_line(run, true);
	if (run->error[0]) {
		res->verdict = STRESS_ERROR;
		snprintf(res->reason, sizeof(res->reason), "%s", run->error);
	} else if (load(&run->failures)) {
		res->verdict = STRESS_FAIL;
		snprintf(res->reason, sizeof(res->reason), "%s", run->log[0].diagnosis);
	} else if (!forker_started || !writer_started) {
		res->verdict = STRESS_ERROR;
		snprintf(res->reason, sizeof(res->reason), "cannot start the threads");
	} else if (!load(&run->iterations)) {
		/* nothing was checked: a pass would claim what was never tried */
		res->verdict = STRESS_ERROR;
		snprintf(res->reason, sizeof(res->reason),
			 "no iteration completed (%s): nothing was checked",
			 interrupted ? "interrupted" : "raise --duration or --iterations");
	} else {
		res->verdict = STRESS_PASS;
	}
close:
	close_workers(run);
	if (res->run)
		return; /* the report still reads the counters; freed by the caller */
free_run:
	pthread_mutex_destroy(&run->log_lock);
	free(run);
}

/* ---- reports ------------------------------------------------------------------------------- */

static double per_s(uint64_t n, double t)
{
	return t > 0 ? (double)n / t : 0;
}

static void print_result(const struct stress_opts *opt, const struct stress_result *res)
{
	struct stress_run *run = res->run;
	size_t i;

	if (!run) {
		printf("stress %s: %s: %s\n", res->backend, stress_verdict_names[res->verdict],
		       res->reason);
		return;
	}
	printf("stress %s: %s: %u threads x %zu KiB, %.1f s%s: %llu iterations (%.0f/s), %llu "
	       "forks (%.0f/s), %llu registrations overlapped a fork in progress (%.0f/s, %llu "
	       "of them began inside one), %llu failures\n",
	       res->backend, stress_verdict_names[res->verdict], run->workers_open, opt->size >> 10,
	       res->elapsed_s, res->interrupted ? " (interrupted)" : "",
	       (unsigned long long)load(&run->iterations),
	       per_s(load(&run->iterations), res->elapsed_s), (unsigned long long)load(&run->forks),
	       per_s(load(&run->forks), res->elapsed_s), (unsigned long long)load(&run->overlaps),
	       per_s(load(&run->overlaps), res->elapsed_s), (unsigned long long)load(&run->inside),
	       (unsigned long long)load(&run->failures));
	if (res->verdict == STRESS_ERROR)
		printf("  error: %s\n", res->reason);
	for (i = 0; i < run->nlog && i < PRINTED_FAILURES; i++) {
		const struct stress_failure *f = &run->log[i];

		if (f->in_child)
			printf("  failure: a forked child at %.3f s: %s\n", f->elapsed_s,
			       f->diagnosis);
		else
			printf("  failure: thread %u iteration %llu at %.3f s%s%s: %s\n", f->thread,
			       (unsigned long long)f->iteration, f->elapsed_s,
			       f->overlapped ? " (registration overlapped a fork)" : "",
			       f->injected ? " (injected)" : "", f->diagnosis);
	}
	if (load(&run->failures) > i)
		printf("  ... %llu more failures (the first %d are in --json)\n",
		       (unsigned long long)(load(&run->failures) - i), MAX_FAILURE_LOG);
	if (run->note[0])
		printf("  note: %s\n", run->note);
	if (load(&run->children_signalled))
		printf("  note: %llu forked children died from a signal (a MADV_DONTFORK range?)\n",
		       (unsigned long long)load(&run->children_signalled));
}

static void json_key(FILE *f, const char *key)
{
	fp_json_write_string(f, key);
	fputs(": ", f);
}

static void json_str(FILE *f, const char *key, const char *value, bool comma)
{
	json_key(f, key);
	fp_json_write_string(f, value ? value : "");
	if (comma)
		fputs(", ", f);
}

static void json_u64(FILE *f, const char *key, uint64_t v)
{
	json_key(f, key);
	fprintf(f, "%llu, ", (unsigned long long)v);
}

static void json_num(FILE *f, const char *key, double v)
{
	json_key(f, key);
	fprintf(f, "%.6g, ", v);
}

static void json_result(FILE *f, const struct stress_result *res)
{
	struct stress_run *run = res->run;
	double t = res->elapsed_s;
	size_t i;

	fputs("{", f);
	json_str(f, "backend", res->backend, true);
	json_str(f, "result", stress_verdict_names[res->verdict], true);
	json_str(f, "reason", res->reason, true);
	if (run) {
		json_u64(f, "threads", run->workers_open);
		json_num(f, "elapsed_s", t);
		fprintf(f, "\"interrupted\": %s, ", res->interrupted ? "true" : "false");
		json_u64(f, "iterations", load(&run->iterations));
		json_u64(f, "registrations", load(&run->registrations));
		json_u64(f, "forks", load(&run->forks));
		json_u64(f, "fork_errors", load(&run->fork_errors));
		json_u64(f, "overlaps", load(&run->overlaps));
		json_u64(f, "overlaps_inside_fork", load(&run->inside));
		json_u64(f, "writer_passes", load(&run->writer_passes));
		json_u64(f, "children_signalled", load(&run->children_signalled));
		json_num(f, "iterations_per_s", per_s(load(&run->iterations), t));
		json_num(f, "forks_per_s", per_s(load(&run->forks), t));
		json_num(f, "overlaps_per_s", per_s(load(&run->overlaps), t));
		json_u64(f, "failures", load(&run->failures));
		json_str(f, "note", run->note, true);
		fputs("\"failure_log\": [", f);
		for (i = 0; i < run->nlog; i++) {
			const struct stress_failure *fl = &run->log[i];

			fputs(i ? ",\n    {" : "\n    {", f);
			json_u64(f, "thread", fl->thread);
			json_u64(f, "iteration", fl->iteration);
			json_num(f, "elapsed_s", fl->elapsed_s);
			fprintf(f, "\"overlapped\": %s, \"injected\": %s, \"in_child\": %s, ",
				fl->overlapped ? "true" : "false", fl->injected ? "true" : "false",
				fl->in_child ? "true" : "false");
			json_str(f, "diagnosis", fl->diagnosis, false);
			fputs("}", f);
		}
		fputs("]", f);
	} else {
		fputs("\"iterations\": 0, \"forks\": 0, \"overlaps\": 0, \"failures\": 0, "
		      "\"failure_log\": []",
		      f);
	}
	fputs("}", f);
}

static int write_json(const char *path, const struct stress_opts *opt,
		      const struct stress_result *res, size_t n, int code)
{
	struct fp_env *env = calloc(1, sizeof(*env));
	struct fp_outfile out;
	char signame[32];
	size_t i;
	int err;
	FILE *f;

	if (!env)
		return -ENOMEM;
	err = fp_outfile_open(&out, path);
	if (err) {
		free(env);
		return err;
	}
	f = out.f;
	fp_fingerprint_collect(env);
	fputs("{\n  \"command\": \"stress\",\n  ", f);
	json_u64(f, "seed", opt->seed);
	json_u64(f, "threads", opt->threads);
	json_u64(f, "size", opt->size);
	json_num(f, "duration_s", opt->duration_s);
	json_u64(f, "iterations_limit", opt->iterations);
	json_u64(f, "inject_every", opt->inject_every);
	json_u64(f, "exit_code", (uint64_t)code);
	fprintf(f, "\"complete\": %s, ", interrupted ? "false" : "true");
	if (interrupted)
		json_str(f, "interrupted", fp_signal_name(interrupted, signame, sizeof(signame)),
			 true);
	fputs("\n  \"env\": ", f);
	fp_env_write_json(f, env, -1);
	fputs(",\n  \"backends\": [", f);
	for (i = 0; i < n; i++) {
		fputs(i ? ",\n    " : "\n    ", f);
		json_result(f, &res[i]);
	}
	fputs("\n  ]\n}\n", f);
	free(env);
	return fp_outfile_commit(&out);
}

/* ---- the command ----------------------------------------------------------------------- */

/* A backend the stressor can drive: it pins, the device writes, and it is not a control. */
static bool can_stress(const struct fp_backend *be)
{
	unsigned need = FP_CAP_PINS | FP_CAP_DMA_TO_HOST;

	return (be->caps & need) == need && !be->control;
}

static void print_stress_help(FILE *f)
{
	fprintf(
	    f,
	    "usage: forkpin stress [--duration SEC] [--iterations N] [--threads N] "
	    "[--size BYTES]\n"
	    "                      [-b/--backend LIST] [--seed N] [--json FILE]\n"
	    "Races registrations (pins) against fork() and copy-on-write faults and checks every\n"
	    "device write. Defaults: %.0f s, 2 threads, %lu KiB per thread, every pinning "
	    "backend.\n"
	    "Exit: 0 no failure, 1 failures or errors, 2 bad usage, 4 nothing could run.\n",
	    DEFAULT_DURATION_S, DEFAULT_SIZE >> 10);
}

static void parse_inject(struct stress_opts *opt, const char *arg)
{
	const char *colon = strchr(arg, ':');

	if (strncmp(arg, "dontneed", colon ? (size_t)(colon - arg) : strlen(arg)) ||
	    (colon ? (size_t)(colon - arg) : strlen(arg)) != strlen("dontneed"))
		usage_error("--inject '%s': the only breakage is dontneed[:EVERY]", arg);
	opt->inject_every =
	    colon ? (unsigned)fp_parse_count(WHO, "--inject", colon + 1, 1000000) : 4;
}

enum { OPT_DURATION = 256, OPT_ITERATIONS, OPT_THREADS, OPT_SIZE, OPT_JSON, OPT_SEED, OPT_INJECT };

static void parse_stress_args(struct stress_opts *opt, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"duration", required_argument, NULL, OPT_DURATION},
	    {"iterations", required_argument, NULL, OPT_ITERATIONS},
	    {"threads", required_argument, NULL, OPT_THREADS},
	    {"size", required_argument, NULL, OPT_SIZE},
	    {"backend", required_argument, NULL, 'b'},
	    {"json", required_argument, NULL, OPT_JSON},
	    {"seed", required_argument, NULL, OPT_SEED},
	    {"inject", required_argument, NULL, OPT_INJECT}, /* test aid, docs/stress.md */
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool duration_given = false;
	int c;

	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "b:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DURATION:
			if (!fp_parse_seconds(optarg, &opt->duration_s))
				usage_error("--duration '%s': give seconds, e.g. --duration 10",
					    optarg);
			duration_given = true;
			break;
		case OPT_ITERATIONS:
			opt->iterations = fp_parse_count(WHO, "--iterations", optarg, 1ul << 40);
			break;
		case OPT_THREADS:
			opt->threads =
			    (unsigned)fp_parse_count(WHO, "--threads", optarg, MAX_THREADS);
			break;
		case OPT_SIZE:
			if (!fp_parse_size(optarg, &opt->size) || opt->size < STRESS_PAGE ||
			    opt->size > MAX_SIZE || opt->size % STRESS_PAGE)
				usage_error("--size '%s': give a multiple of 4k from 4k to 64M",
					    optarg);
			break;
		case 'b':
			fp_parse_list(WHO, opt->backends, &opt->nbackends,
				      FP_ARRAY_SIZE(opt->backends), optarg, "backend");
			break;
		case OPT_JSON:
			opt->json_path = optarg;
			break;
		case OPT_SEED:
			opt->seed = fp_parse_seed(WHO, optarg);
			break;
		case OPT_INJECT:
			parse_inject(opt, optarg);
			break;
		case 'h':
			print_stress_help(stdout);
			exit(FP_EXIT_OK);
		default:
			usage_error("unknown or incomplete option '%s': `forkpin stress --help` "
				    "lists the options",
				    argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (opt->iterations && !duration_given)
		opt->duration_s = 0; /* --iterations alone: run until done (or SIGINT) */
}

/* The backends to run, by name or every one that can be stressed. */
static size_t select_backends(const struct stress_opts *opt, const struct fp_backend **out)
{
	size_t n = 0, i;

	if (!opt->nbackends) {
		for (i = 0; i < fp_backend_count; i++)
			if (can_stress(fp_backends[i]))
				out[n++] = fp_backends[i];
		return n;
	}
	for (i = 0; i < opt->nbackends; i++) {
		const struct fp_backend *be = fp_backend_find(opt->backends[i]);

		if (!be)
			usage_error("unknown backend '%s': `forkpin list -v` lists them",
				    opt->backends[i]);
		if (!can_stress(be))
			usage_error("backend '%s' cannot be stressed: it needs to pin and to write "
				    "into host memory, and must not be a control",
				    be->name);
		out[n++] = be;
	}
	return n;
}

static void check_memlock(const struct stress_opts *opt)
{
	char subject[64];

	snprintf(subject, sizeof(subject), "%u threads pin", opt->threads);
	fp_check_memlock(WHO, opt->size * opt->threads, subject,
			 "use fewer --threads or a smaller --size");
}

int fp_cmd_stress(int argc, char **argv)
{
	struct stress_opts opt = {.duration_s = DEFAULT_DURATION_S,
				  .threads = 2,
				  .size = DEFAULT_SIZE,
				  .seed = (uint64_t)time(NULL)};
	const struct fp_backend *bes[64];
	struct stress_result res[64];
	struct sigaction sa = {.sa_handler = on_interrupt};
	size_t n, i, ran = 0, bad = 0;
	int code;

	parse_stress_args(&opt, argc, argv);
	n = select_backends(&opt, bes);
	check_memlock(&opt);
	fp_require_writable(WHO, "--json", opt.json_path);
	opt.progress = isatty(STDERR_FILENO) && !getenv("CI");
	/* A stop signal ends the run early: reported incomplete, exit 128 + the signal. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!n)
		printf("stress: skip: no backend here pins memory and lets a device write it "
		       "(`forkpin list -v` shows the backends and what each needs)\n");
	for (i = 0; i < n && !interrupted; i++) {
		run_backend(bes[i], &opt, &res[i]);
		print_result(&opt, &res[i]);
		fflush(stdout);
		ran += res[i].verdict != STRESS_SKIP;
		bad += res[i].verdict == STRESS_FAIL || res[i].verdict == STRESS_ERROR;
	}
	n = i;
	code = interrupted ? FP_EXIT_SIGNAL_BASE + interrupted : (int)fp_exit_code(bad, ran);
	if (interrupted)
		printf("stress: interrupted: the run is incomplete\n");
	if (opt.json_path) {
		int err = write_json(opt.json_path, &opt, res, n, code);

		if (err) {
			fprintf(stderr, "forkpin stress: writing %s: %s\n", opt.json_path,
				strerror(-err));
			code = FP_EXIT_FAIL;
		}
	}
	for (i = 0; i < n; i++)
		if (res[i].run) {
			pthread_mutex_destroy(&res[i].run->log_lock);
			free(res[i].run);
		}
	return code;
}
