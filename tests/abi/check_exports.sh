#!/bin/sh
# Every plugin .so must export corral_plugin and nothing else (STYLE.md §1). Arguments are .so
# files or directories holding them. Linker-made symbols (_init, _fini, __bss_start, _edata,
# _end) and ASan's ODR indicators (__odr_asan.*) are not the plugin's, so they are ignored.
command -v nm >/dev/null 2>&1 || { echo "check_exports: nm not found" >&2; exit 1; }
list=$(mktemp) || exit 1
trap 'rm -f "$list"' EXIT
for arg in "$@"; do
    if [ -d "$arg" ]; then
        find "$arg" -maxdepth 1 -type f -name '*.so' | sort >>"$list"
    else
        printf '%s\n' "$arg" >>"$list"
    fi
done
if [ ! -s "$list" ]; then
    echo "check_exports: no .so found in $*" >&2
    exit 1
fi
status=0
while IFS= read -r so; do
    if ! syms=$(nm -D --defined-only "$so"); then
        echo "$so: nm failed" >&2
        status=1
        continue
    fi
    own=$(printf '%s\n' "$syms" | awk 'NF { print $NF }' |
          grep -Ev '^(_init|_fini|__bss_start|_edata|_end|__odr_asan[._].*)$' | tr '\n' ' ')
    if [ "$own" != "corral_plugin " ]; then
        echo "$so: exports ${own:-nothing }(want corral_plugin alone)" >&2
        status=1
    else
        echo "$so: exports corral_plugin alone"
    fi
done <"$list"
exit $status
