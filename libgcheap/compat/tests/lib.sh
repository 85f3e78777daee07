# SPDX-License-Identifier: MIT
# Shared by the compat shell tests: checks counted into the closing
# "N passed, N failed" line that tests/run-tests sums.  Sourced, not run.
pass=0 fail=0
ok()   { pass=$((pass + 1)); }
bad()  { fail=$((fail + 1)); echo "FAIL $name: $*"; }
check() { # check "what" cmd... : the command's status is the verdict
	local what=$1
	shift
	if "$@"; then ok; else bad "$what"; fi
}
finish() {
	echo "$name: $pass passed, $fail failed"
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
# skip "why": a program is not installed; counts nothing, fails nothing
skip() {
	echo "$name: SKIP: $* (scripts/deps installs it)"
	echo "0 passed, 0 failed"
	exit 0
}
# The library under test: GCH_COMPAT_DIR (the Makefile sets it), else the
# default build directory.
here=$(cd "$(dirname "$0")" && pwd)
dir=${GCH_COMPAT_DIR:-$here/../../../build/libgcheap/compat}
dir=$(cd "$dir" 2>/dev/null && pwd) || { echo "$name: no $dir"; exit 1; }
lib=$dir/libgc.so.1
# Our library loaded, by the loader's own account (LD_DEBUG=libs in @log).
loaded_ours() { grep -q "calling init: $lib\$" "$1"; }
