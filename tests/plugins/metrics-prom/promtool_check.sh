#!/bin/sh
# Lints a real metrics-prom scrape with promtool (Debian package prometheus). corral keeps
# ZooKeeper's metric names, which break promtool's naming conventions (packets_received has no
# _total, the gauge znode_count ends in _count, read_commitproc_time_ms abbreviates its unit), so
# those lints are expected; a parse error or any other lint fails. Exit 77 (skip) without promtool.
driver=$1
if ! command -v promtool >/dev/null 2>&1; then
    echo "promtool not found: install the Debian package prometheus to run this check; skipping"
    exit 77
fi
scrape=$(mktemp) && out=$(mktemp) || exit 1
trap 'rm -f "$scrape" "$out"' EXIT
"$driver" >"$scrape" || { echo "promtool_check: $driver failed" >&2; exit 1; }
echo "scrape of $(wc -l <"$scrape") lines; $(promtool --version 2>&1 | head -n 1)"
promtool check metrics <"$scrape" >"$out" 2>&1
rc=$?
cat "$out"
if [ $rc -eq 0 ]; then
    echo "promtool: no problems"
    exit 0
fi
naming='counter metrics should have "_total" suffix|should not have "_(count|sum)" suffix'
naming="$naming|should not contain abbreviated units|use base unit"
if [ -s "$out" ] && ! grep -Ev "$naming" "$out" | grep -q .; then
    echo "promtool: only naming lints, expected for ZooKeeper's metric names"
    exit 0
fi
echo "promtool_check: promtool exited $rc" >&2
exit 1
