/* SPDX-License-Identifier: MIT */
/*
 * The per-run SKIP plan (backend.h: plan): a backend whose device is missing for the whole
 * run is asked once, in one probe process, and its cases are reported exactly as their own
 * processes would have reported them (open's SKIP, or the memory type's SKIP when mapping
 * comes first, a mapping error still run) without forking one; with -j too; and a backend
 * whose plan finds the device runs every case.
 */
#include "fake_backends.h"
#include "runner.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Memory types that log each map ('M'): one that maps, one that SKIPs, one that fails. */
static int logged_map(struct fp_mem *mem, size_t len, char *why, size_t why_size, int err)
{
	fake_plan_log('M');
	memset(mem, 0, sizeof(*mem));
	if (err)
		return snprintf(why, why_size, "fake mapping: %s", strerror(-err)), err;
	mem->buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem->buf == MAP_FAILED)
		return snprintf(why, why_size, "mmap failed"), -errno;
	memset(mem->buf, 0, len);
	mem->len = len;
	mem->page_size = (size_t)sysconf(_SC_PAGESIZE);
	mem->map = mem->buf;
	mem->map_len = len;
	mem->fd = -1;
	return 0;
}

static int ok_map(struct fp_mem *mem, size_t len, char *why, size_t why_size)
{
	return logged_map(mem, len, why, why_size, 0);
}

static int skip_map(struct fp_mem *mem, size_t len, char *why, size_t why_size)
{
	return logged_map(mem, len, why, why_size, -ENODEV);
}

static int error_map(struct fp_mem *mem, size_t len, char *why, size_t why_size)
{
	return logged_map(mem, len, why, why_size, -EIO);
}

static void logged_unmap(struct fp_mem *mem)
{
	munmap(mem->map, mem->map_len);
}

static const struct fp_memtype mts[] = {
    {.name = "maps", .len = 16384, .map = ok_map, .unmap = logged_unmap},
    {.name = "skips", .len = 16384, .map = skip_map, .unmap = logged_unmap},
    {.name = "fails", .len = 16384, .map = error_map, .unmap = logged_unmap},
};

/* What a report shows of a case, durations aside. */
struct seen {
	char id[96];
	enum fp_verdict verdict;
	enum fp_status status;
	char reason[768];
	char note[256];
};

struct seen_log {
	size_t n;
	struct seen s[64];
};

static int seen_begin(void *state, size_t ncases, const struct fp_env *env)
{
	(void)state;
	(void)ncases;
	(void)env;
	return 0;
}

static void seen_result(void *state, size_t index, const struct fp_result *res)
{
	struct seen_log *l = state;
	struct seen *s = &l->s[l->n];

	(void)index;
	if (l->n >= 64)
		return;
	snprintf(s->id, sizeof(s->id), "%s", res->id);
	s->verdict = res->verdict;
	s->status = res->outcome.status;
	snprintf(s->reason, sizeof(s->reason), "%s", res->outcome.reason);
	snprintf(s->note, sizeof(s->note), "%s", res->outcome.note);
	l->n++;
}

/* The cases: @absent on each memory type and two scenarios, an ideal case between them. */
static size_t make_cases(struct fp_case *c, const struct fp_backend *absent)
{
	const char *sc[] = {"parent-writes", "child-writes"};
	size_t i, k, n = 0;

	for (i = 0; i < FP_ARRAY_SIZE(mts); i++)
		for (k = 0; k < FP_ARRAY_SIZE(sc); k++) {
			const struct fp_backend *be =
			    k == 1 && i == 0 ? &fake_ideal_backend : absent;

			c[n] = (struct fp_case){
			    .be = be, .mt = &mts[i], .sc = fp_scenario_find(sc[k])};
			snprintf(c[n].id, sizeof(c[n].id), "%s/%s/%s", be->name, mts[i].name,
				 sc[k]);
			n++;
		}
	return n;
}

/* Run the cases with @jobs into @l; returns what was logged (P plan, O open, M map). */
static void run_cases(const struct fp_backend *absent, unsigned jobs, struct seen_log *l,
		      char *events, size_t events_size)
{
	char path[] = "/tmp/forkpin-test-plan-XXXXXX";
	struct fp_reporter r = {.state = l, .begin = seen_begin, .result = seen_result};
	struct fp_reporter *reps[] = {&r};
	struct fp_run_options opt = {.timeout_s = 20, .jobs = jobs};
	struct fp_case c[16];
	struct fp_env env = {0};
	struct fp_totals t;
	size_t n = make_cases(c, absent);
	int fd = mkstemp(path);
	ssize_t got;

	if (fd < 0)
		abort();
	setenv("FAKE_PLAN_LOG", path, 1);
	memset(l, 0, sizeof(*l));
	fp_run_all(c, n, &opt, reps, 1, &env, &t);
	got = read(fd, events, events_size - 1);
	events[got > 0 ? got : 0] = '\0';
	close(fd);
	unlink(path);
	unsetenv("FAKE_PLAN_LOG");
}

static size_t count(const char *s, char ch)
{
	size_t k = 0;

	for (; *s; s++)
		k += *s == ch;
	return k;
}

/* Same reports: everything but the backend's own name (the twins differ only by plan). */
static bool same_reports(const struct seen_log *a, const struct seen_log *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->s[i].id, b->s[i].id) || a->s[i].verdict != b->s[i].verdict ||
		    a->s[i].status != b->s[i].status || strcmp(a->s[i].reason, b->s[i].reason) ||
		    strcmp(a->s[i].note, b->s[i].note)) {
			diag("case %zu differs: %s %d %s / %s %d %s", i, a->s[i].id, a->s[i].status,
			     a->s[i].reason, b->s[i].id, b->s[i].status, b->s[i].reason);
			return false;
		}
	return true;
}

static void test_planned_skips_fork_nothing(void)
{
	static struct seen_log planned, unplanned, off, jobs;
	char ev_planned[256], ev_unplanned[256], ev_off[256], ev_jobs[256];

	run_cases(&fake_absent_backend, 1, &planned, ev_planned, sizeof(ev_planned));
	run_cases(&fake_absent_unplanned_backend, 1, &unplanned, ev_unplanned,
		  sizeof(ev_unplanned));
	ok(planned.n == 6 && same_reports(&planned, &unplanned),
	   "the planned run reports what each case's own process reports (%zu cases)", planned.n);
	ok(planned.s[0].status == FP_STATUS_SKIP &&
	       !strcmp(planned.s[0].reason, "fake device absent: set FAKE_PRESENT") &&
	       planned.s[2].status == FP_STATUS_SKIP &&
	       strstr(planned.s[2].reason, "fake mapping") &&
	       planned.s[4].verdict == FP_VERDICT_FAIL && planned.s[4].status == FP_STATUS_ERROR,
	   "open's SKIP where the memory maps, the memory type's SKIP where it SKIPs first, "
	   "a mapping error still an error (%s / %s / %s)",
	   planned.s[0].reason, planned.s[2].reason, planned.s[4].reason);
	ok(planned.s[1].verdict == FP_VERDICT_PASS, "the ideal case between them ran and passed");
	/* unplanned: every case maps ('M'), the absent one whose map works opens ('O') */
	ok(count(ev_unplanned, 'P') == 0 && count(ev_unplanned, 'O') == 1 &&
	       count(ev_unplanned, 'M') == 6,
	   "without a plan every case process opens: events '%s'", ev_unplanned);
	/* planned: one plan, each memory type mapped once by the probe, no absent open; the
	 * two cases on the failing memory type still run (and map), the ideal one too */
	ok(count(ev_planned, 'P') == 1 && count(ev_planned, 'O') == 0 &&
	       count(ev_planned, 'M') == 3 + 2 + 1,
	   "with the plan: one plan, no open, maps only in the probe and the cases that ran: "
	   "events '%s'",
	   ev_planned);

	setenv("FORKPIN_SKIP_PLAN", "0", 1);
	run_cases(&fake_absent_backend, 1, &off, ev_off, sizeof(ev_off));
	unsetenv("FORKPIN_SKIP_PLAN");
	ok(same_reports(&off, &planned) && count(ev_off, 'P') == 0 && count(ev_off, 'O') == 1,
	   "FORKPIN_SKIP_PLAN=0: no plan, same reports: events '%s'", ev_off);

	run_cases(&fake_absent_backend, 4, &jobs, ev_jobs, sizeof(ev_jobs));
	ok(same_reports(&jobs, &planned) && count(ev_jobs, 'O') == 0,
	   "with -j 4: the same reports in the same order, no open: events '%s'", ev_jobs);
}

static void test_present_device_runs_every_case(void)
{
	static struct seen_log l;
	char ev[256];

	setenv("FAKE_PRESENT", "1", 1);
	run_cases(&fake_absent_backend, 1, &l, ev, sizeof(ev));
	unsetenv("FAKE_PRESENT");
	ok(l.n == 6 && l.s[0].verdict == FP_VERDICT_PASS && l.s[2].status == FP_STATUS_SKIP &&
	       l.s[4].status == FP_STATUS_ERROR,
	   "a plan that finds the device leaves every case to run: %s, %s", l.s[0].reason,
	   l.s[2].reason);
	ok(count(ev, 'P') == 1 && count(ev, 'O') == 1 && count(ev, 'M') == 6,
	   "one plan, no probe map, every case maps and the one that can opens: events '%s'", ev);
}

int main(void)
{
	test_planned_skips_fork_nothing();
	test_present_device_runs_every_case();
	return done_testing();
}
