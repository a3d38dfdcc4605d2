#!/bin/bash
# tests/html.sh FORKPIN REPORT_WRITER: `forkpin run --html` as a person sees it. Loads the page
# in headless Chromium and reads back, from the DOM the browser built: the verdict line, the
# per-backend summary, the failures table (the failing case first), the grid and the
# fingerprint; once for synthetic results with a failure, an XFAIL and hostile strings
# (report_writer), once for a real host run, whose numbers must match its JSON report.
# Prints TAP; 77 (skip) without Chromium (setup/install-deps.sh installs it).
set -u
fp=$1 writer=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
	echo "1..0 # SKIP no chromium (apt-get install chromium)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# dom FILE.html OUT: the DOM Chromium built from the page, bounded in time.
dom() {
	timeout 90 "$browser" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/profile" \
		--dump-dom "file://$1" >"$2" 2>"$tmp/browser.err"
}

# read_back DOM: the page's tables as JSON {table id: [[cell texts]...], "verdict": text}.
read_back() {
	python3 - "$1" <<'PY'
import json, sys
from html.parser import HTMLParser

class Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.table, self.row, self.cell, self.verdict = {}, None, None, None, None
        self.in_verdict = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.table = self.tables.setdefault(a.get("id", "?"), [])
        elif tag == "tr" and self.table is not None:
            self.row = []
            self.table.append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""
        elif tag == "p" and a.get("id") == "verdict":
            self.in_verdict, self.verdict = True, ""
    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell)
            self.cell = None
        elif tag == "table":
            self.table = None
        elif tag == "p":
            self.in_verdict = False
    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        if self.in_verdict:
            self.verdict += data

p = Tables()
p.feed(open(sys.argv[1], encoding="utf-8").read())
p.tables["verdict"] = p.verdict
json.dump(p.tables, sys.stdout)
PY
}

# q EXPR: evaluate a Python expression over the read-back page `t` (and the report `r`).
q() {
	python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))
r = json.load(open(sys.argv[2])) if len(sys.argv) > 2 and sys.argv[2] else None
sys.exit(0 if eval("(" + sys.argv[3] + ")") else 1)' "$page" "${report:-}" "$1"
}

# 1. Synthetic results: 1 pass, 1 fail, 1 skip, 1 control detected, 1 XFAIL.
"$writer" "$tmp/s.json" "$tmp/s.xml" --html "$tmp/s.html"
ok $? "report_writer writes an HTML page beside JSON and JUnit"
dom "$tmp/s.html" "$tmp/s.dom"
ok $? "headless Chromium loads the page"
read_back "$tmp/s.dom" >"$tmp/s.page"
page=$tmp/s.page report=
ok "$(q 't["verdict"].startswith("FAIL: pass 1, fail 1, xfail 1, skip 1")'; echo $?)" \
	"the verdict line reads back as FAIL with the totals"
ok "$(q 't["summary"][1] == ["be", "2", "1", "1", "1", ""]'; echo $?)" \
	"the summary row of backend be: pass 2 (incl. the control), fail 1, xfail 1, skip 1"
ok "$(q 't["failures"][1][0] == "be/anon/bad" and "leak" in t["failures"][1][2] and
	t["failures"][2][0] == "be/file-private/ro" and "0123456789ab" in t["failures"][2][2]'
	echo $?)" "the failures come first, with the diagnosis and the XFAIL's fix commit"
ok "$(q '"\ufffd" in t["failures"][1][2] and "<child 0" in t["failures"][1][2]'; echo $?)" \
	"hostile text arrives as text (escaped, invalid UTF-8 replaced)"
ok "$(q 't["grid"][0][1] == "be" and any(row[0] == "bad" and row[1].startswith("FAIL 1")
	for row in t["grid"])'; echo $?)" "the grid marks scenario bad as FAIL for be"
ok "$(q 'any(row[0] == "kernel.release" and "<tag>" in row[1] for row in t["env"])'; echo $?)" \
	"the fingerprint is on the page"

# 2. A real host run: the page and the JSON report must agree.
"$fp" run -b iouring,vmsplice -m anon,thp-pmd --json "$tmp/r.json" --html "$tmp/r.html" \
	>/dev/null 2>&1
rc=$?
ok "$([ "$rc" = 0 ] || [ "$rc" = 4 ]; echo $?)" "forkpin run --html (exit $rc)"
dom "$tmp/r.html" "$tmp/r.dom"
read_back "$tmp/r.dom" >"$tmp/r.page"
page=$tmp/r.page report=$tmp/r.json
ok "$(q 't["verdict"].startswith("PASS" if r["totals"]["fail"] == 0 else "FAIL")'; echo $?)" \
	"the real page's verdict matches the JSON report"
ok "$(q 'sum(int(row[2]) for row in t["summary"][1:]) == r["totals"]["fail"] and
	sum(int(row[4]) for row in t["summary"][1:]) == r["totals"]["skip"] and
	len(t["cases"]) - 1 == len(r["cases"])'; echo $?)" \
	"its summary and case list add up to the JSON report's totals"
expect_exit 2 "--html and --json on one file are refused" -- \
	"$fp" run -b iouring --json "$tmp/x" --html "$tmp/./x"
tap_done
