#!/bin/bash
# Every C file follows .clang-format (clang-format --dry-run -Werror); skips without it.
top=$(cd "$(dirname "$0")/.." && pwd)
command -v clang-format >/dev/null || {
	echo "1..0 # SKIP clang-format not installed"
	exit 77
}
cd "$top" || exit 1
n=0 bad=0
while IFS= read -r f; do
	n=$((n + 1))
	if clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "ok $n - $f"
	else
		echo "not ok $n - $f is not clang-formatted (clang-format -i $f)"
		bad=$((bad + 1))
	fi
done < <(find src tests bench -name '*.[ch]' | sort)
echo "1..$n"
[ $bad -eq 0 ]
