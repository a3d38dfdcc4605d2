#!/bin/bash
# tests/package.sh [--vm]: the Debian package and what `meson install` ships. Builds
# forkpin_*.deb from the tracked tree (dpkg-buildpackage -us -uc -b), checks its contents
# (binary, helper scripts under /usr/libexec/forkpin, man page, bash completion, docs), runs
# the unpacked binary, renders the man page, and drives the completion function.
# --vm: also install the package in the test VM (dpkg -i on the guest's overlay root) and
# run a case from /usr/bin/forkpin there. Prints TAP; 77 (skip) without dpkg-buildpackage.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib.sh"
with_vm=0
[ "${1:-}" = --vm ] && with_vm=1

for tool in dpkg-buildpackage dh; do
	command -v "$tool" >/dev/null || {
		echo "1..0 # SKIP $tool missing (setup/install-deps.sh installs debhelper)"
		exit 77
	}
done
[ "$with_vm" = 0 ] || skip_without_qemu

# Under /tmp so the guest (host root shared read-only) sees the .deb at the same path.
tmp=$(mktemp -d /tmp/forkpin-package.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# build_deb: the tracked files (what a release tarball holds) into $tmp/src, then the .deb.
build_deb() {
	mkdir "$tmp/src"
	(cd "$top" && git ls-files -z | xargs -0 cp --parents -t "$tmp/src") &&
		(cd "$tmp/src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1
}
build_deb
ok $? "dpkg-buildpackage -us -uc -b builds the package"
deb=$(ls "$tmp"/forkpin_*_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || {
	tail -n 20 "$tmp/build.log" | sed 's/^/# /'
	tap_done
	exit 1
}

out=$(dpkg-deb -c "$deb")
for f in ./usr/bin/forkpin ./usr/libexec/forkpin/rxe ./usr/libexec/forkpin/hugetlb \
	./usr/libexec/forkpin/vfio-bind ./usr/libexec/forkpin/vfio-unbind \
	./usr/libexec/forkpin/lib/vfio.sh ./usr/libexec/forkpin/vm/run \
	./usr/libexec/forkpin/vm/kernel.sh ./usr/share/man/man1/forkpin.1.gz \
	./usr/share/bash-completion/completions/forkpin ./usr/share/doc/forkpin/scenarios.md.gz; do
	contains " $f" "the package ships $f"
done
out=$(dpkg-deb -f "$deb" Depends Recommends)
contains "Recommends: rdma-core, ibverbs-providers, libfabric1" \
	"optional backends' providers are Recommends"

root=$tmp/root
dpkg-deb -x "$deb" "$root"
expect_exit 0 "the packaged binary lists the matrix" -- "$root/usr/bin/forkpin" list -b iouring
contains "iouring/anon/parent-writes" "the packaged binary lists iouring cases"
# Its messages name the installed helpers, not a source tree's setup/.
out=$(FORKPIN_VFIO_BDF= "$root/usr/bin/forkpin" run -b vfio -m anon -s parent-writes 2>&1)
contains "bind one with /usr/libexec/forkpin/vfio-bind BDF" \
	"the packaged binary's messages name /usr/libexec/forkpin/vfio-bind"

# The man page renders without groff warnings and has its sections.
out=$(zcat "$root/usr/share/man/man1/forkpin.1.gz" | groff -man -Tutf8 -ww 2>&1 >/dev/null)
ok "$([ -z "$out" ] && echo 0 || echo 1)" "groff renders forkpin.1 without warnings"
[ -z "$out" ] || printf '# %s\n' "$out" | head -5
out=$(MANWIDTH=80 man -l "$root/usr/share/man/man1/forkpin.1.gz" 2>&1)
for section in NAME SYNOPSIS "EXIT STATUS" FILES; do
	contains "$section" "man -l shows the $section section"
done

# complete WORDS...: run the completion function on a command line whose last word is the
# one being completed; the candidates in $out, one per line.
complete_line() {
	out=$(bash -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_forkpin "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' complete \
		"$root/usr/share/bash-completion/completions/forkpin" "$@" 2>&1)
}
# candidate WORD DESCRIPTION: is WORD exactly one of the candidates?
candidate() {
	if printf '%s\n' "$out" | grep -qxF -- "$1"; then
		ok 0 "$2"
	else
		ok 1 "$2"
		printf '# candidates: %s\n' "$(printf '%s ' $out | head -c 200)"
	fi
}
fp=$root/usr/bin/forkpin
complete_line "$fp" r
candidate run "completion: subcommands"
complete_line "$fp" run -b io
candidate iouring "completion: -b completes backends"
complete_line "$fp" run -b iouring,vf
candidate iouring,vfio-type1 "completion: the last element of a backend list"
complete_line "$fp" run -s parent-w
candidate parent-writes "completion: -s completes scenarios"
complete_line "$fp" run -m thp
candidate thp-pmd "completion: -m completes memory types"
complete_line "$fp" list iouring/anon/child-a
candidate iouring/anon/child-alive "completion: case ids from forkpin list"
complete_line "$fp" run --js
candidate --json "completion: run's options"
complete_line "$fp" run --require io
candidate iouring "completion: --require completes backends"
complete_line "$fp" run --profile q
candidate quick "completion: --profile completes profiles"

if [ "$with_vm" = 1 ]; then
	# The guest's root is an overlay over the host's: dpkg -i writes only to the guest (without
	# triggers: man-db's index rebuild takes minutes under TCG and proves nothing here). The
	# source tree the package was built from goes first, so only the installed copy of
	# setup/vm/run can answer `forkpin vm --help`.
	rm -rf "$tmp/src"
	out=$("$top/setup/vm/run" --timeout 600 -- sh -c "
		dpkg -i --no-triggers '$deb' >/dev/null 2>&1 || { echo 'dpkg -i failed'; exit 1; }
		dpkg -s forkpin | grep '^Status'
		/usr/bin/forkpin vm --help 2>&1 | grep -q -- --kernel-release && echo vm-help-ok
		/usr/bin/forkpin run -b iouring,vfio -m anon -s parent-writes" 2>&1)
	contains "Status: install ok installed" "the package installs in the test VM"
	contains "vm-help-ok" "the installed forkpin finds its VM script under /usr/libexec/forkpin"
	ok "$(printf '%s\n' "$out" | grep -qE '^ok [0-9]+ iouring/anon/parent-writes' && echo 0 || echo 1)" \
		"the installed /usr/bin/forkpin runs iouring/anon/parent-writes in the VM"
	ok "$(printf '%s\n' "$out" | grep -qE '^ok [0-9]+ vfio/anon/parent-writes' && echo 0 || echo 1)" \
		"the installed /usr/bin/forkpin drives the edu device through vfio in the VM"
	printf '%s\n' "$out" | grep -E '^(not ok|# )' | head -n 5
fi
tap_done
