#!/usr/bin/env bash
# Prints, one a line, the Debian packages that hold the shared libraries
# the given binaries load (ldd): what the runtime image installs. Run in
# the build stage, where the binaries were linked. Fails on a library ldd
# cannot find or no package holds.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 BINARY…" >&2; exit 2; }

libs=""
for bin in "$@"; do
	if ! out="$(ldd "$bin" 2>&1)"; then
		grep -q 'not a dynamic executable' <<<"$out" && continue # static: needs nothing
		echo "$out" >&2
		exit 1
	fi
	if grep 'not found' <<<"$out" >&2; then exit 1; fi
	libs+="$out"$'\n'
done
mapfile -t paths < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' <<<"$libs" | sort -u)
[ ${#paths[@]} -gt 0 ] || exit 0

# A library may be known to dpkg by the name ldd gives, by the file it
# links to, with or without /usr (Debian 12 still lists most of /lib
# under its own name): ask for every spelling in one dpkg-query.
spellings() {
	local c
	for c in "$1" "$(readlink -f "$1")"; do
		printf '%s\n' "$c" "${c#/usr}" "/usr$c"
	done
}
mapfile -t asked < <(for p in "${paths[@]}"; do spellings "$p"; done | sort -u)
declare -A owner
while IFS= read -r line; do
	case "$line" in diversion*) continue ;; esac
	pkg="${line%%: /*}"
	pkg="${pkg%%,*}"
	owner["/${line#*: /}"]="${pkg%%:*}"
done < <(dpkg-query -S "${asked[@]}" 2>/dev/null || true)

for p in "${paths[@]}"; do
	found=""
	while IFS= read -r c; do
		if [ -n "${owner[$c]:-}" ]; then found="${owner[$c]}"; break; fi
	done < <(spellings "$p")
	if [ -z "$found" ]; then
		echo "runtime-packages: no Debian package holds $p" >&2
		exit 1
	fi
	printf '%s\n' "$found"
done | sort -u
