#!/usr/bin/env bash
# Builds and tests vigil's container image (docker/Dockerfile).
#
#   scripts/image.sh build   make image: the engine, the base images, the image
#   scripts/image.sh test    make test-image: build, then TestImage
#                            (docker/image_test.go) against the image
#   scripts/image.sh test-only   TestImage against the image as it is
#   scripts/image.sh bases   only the base images
#
# The engine is docker when a docker daemon answers, else podman (installed
# from Debian when missing). Base images a registry cannot give are made
# here: debian:bookworm-slim from `debootstrap --variant=minbase bookworm`
# (the mirror is the host's apt source for bookworm), and the Go builder
# base from that root with this machine's Go toolchain copied in. Every
# step skips what exists. With podman, run it as root. VIGIL_IMAGE names the image (default vigil:dev);
# VIGIL_IMAGE_BASES=local skips the pull attempt, =pull never debootstraps.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
IMAGE="${VIGIL_IMAGE:-vigil:dev}"
BASES="${VIGIL_IMAGE_BASES:-auto}"
RUNTIME_BASE="debian:bookworm-slim"
GO="${GO:-go}"

log() { printf 'image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# apt_install PACKAGE… installs the Debian packages that are missing.
apt_install() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return
	log "installing Debian packages: ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The engine: docker when its daemon answers, else podman.
ENGINE=""
pick_engine() {
	[ -n "$ENGINE" ] && return
	if command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; then
		ENGINE=docker
	else
		# podman builds as root with chroot isolation; uidmap for rootless use.
		[ "$(id -u)" -eq 0 ] || die "podman builds and mounts images as root here: run this as root (sudo make image)"
		apt_install podman uidmap
		ENGINE=podman
	fi
	log "engine: $ENGINE"
}

# build_flags: podman here runs RUN steps in a chroot on the host's network
# (no bridge, no user namespace in this sandbox).
build_flags() {
	# HEALTHCHECK is kept only in the docker format; the stages run in
	# parallel.
	if [ "$ENGINE" = podman ]; then
		printf '%s\n' --isolation chroot --network host --layers --format docker --jobs 2
	fi
}

has_image() { $ENGINE image inspect "$1" >/dev/null 2>&1; }

# The Go builder base is named after the machine's Go: golang:1.26-bookworm.
go_image() {
	local v
	v="$($GO env GOVERSION)"      # go1.26.8
	v="${v#go}"
	printf 'golang:%s-bookworm\n' "$(cut -d. -f1,2 <<<"$v")"
}

# apt_source SUITE prints the first URI the host's apt takes SUITE from,
# read from one-line (.list) and deb822 (.sources) files.
apt_source() {
	local suite="$1" f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v s="$suite" '$1 == "deb" {
			i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i+1) == s) { print $i; exit }
		}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v s="$suite" '
			function flush() { if (deb && uri != "" && (" " suites " ") ~ (" " s " ")) { print uri; found = 1; exit } deb = 0; uri = ""; suites = "" }
			/^[[:space:]]*$/ { flush(); next }
			/^Types:/ { deb = ($0 ~ /[[:space:]]deb([[:space:]]|$)/) }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { $1 = ""; suites = $0 }
			END { if (!found) flush() }' "$f"
	done
}

# make_rootfs DIR: a minimal Debian 12 root, its apt pointed at the host's
# sources and with the host's apt settings for date checks and proxies.
make_rootfs() {
	local dir="$1" mirror security
	mirror="$(apt_source bookworm | head -n1)"
	[ -n "$mirror" ] || die "no apt source for bookworm in /etc/apt/sources.list{,.d}: cannot debootstrap a base image"
	security="$(apt_source bookworm-security | head -n1)"
	apt_install debootstrap
	log "debootstrap --variant=minbase bookworm (about a minute)"
	$SUDO debootstrap --variant=minbase bookworm "$dir" "$mirror" >/dev/null
	{
		printf 'deb %s bookworm main\n' "$mirror"
		printf 'deb %s bookworm-updates main\n' "$mirror"
		if [ -n "$security" ]; then printf 'deb %s bookworm-security main\n' "$security"; fi
	} | $SUDO tee "$dir/etc/apt/sources.list" >/dev/null
	apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' |
		$SUDO tee "$dir/etc/apt/apt.conf.d/90host" >/dev/null || true
	$SUDO rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/var/log/*.log "$dir"/var/log/apt/*
}

# slim DIR: what debian:bookworm-slim leaves out (docs, man pages, locales),
# removed now and excluded from later package installs.
slim() {
	local dir="$1"
	$SUDO tee "$dir/etc/dpkg/dpkg.cfg.d/slim" >/dev/null <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
CFG
	$SUDO find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
	$SUDO find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
	$SUDO rm -rf "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/lintian/*
	$SUDO find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
}

# import DIR NAME ENV…: the root as an image, with a PATH and a shell.
import() {
	local dir="$1" name="$2"
	shift 2
	local changes=(--change 'CMD ["bash"]')
	for e in "$@"; do changes+=(--change "ENV $e"); done
	log "importing $name"
	$SUDO tar -C "$dir" --numeric-owner -c . | $ENGINE import "${changes[@]}" - "$name" >/dev/null
}

try_pull() {
	[ "$BASES" = local ] && return 1
	log "pulling $1"
	timeout 120 $ENGINE pull -q "$1" >/dev/null 2>&1
}

bases() {
	pick_engine
	local go_img start=$SECONDS
	go_img="$(go_image)"
	if ! has_image "$RUNTIME_BASE" && ! try_pull "$RUNTIME_BASE"; then
		[ "$BASES" = pull ] && die "cannot pull $RUNTIME_BASE and VIGIL_IMAGE_BASES=pull"
		with_root runtime_base
	fi
	if ! has_image "$go_img" && ! try_pull "$go_img"; then
		[ "$BASES" = pull ] && die "cannot pull $go_img and VIGIL_IMAGE_BASES=pull"
		with_root go_base "$go_img"
	fi
	log "base images present: $RUNTIME_BASE, $go_img ($((SECONDS - start)) s)"
}

# with_root FUNC ARG…: FUNC DIR ARG… with DIR a fresh folder, removed after.
with_root() {
	local tmp
	tmp="$(mktemp -d)"
	# shellcheck disable=SC2064
	trap "remove_root '$tmp'" EXIT
	"$1" "$tmp/root" "${@:2}"
	remove_root "$tmp"
	trap - EXIT
}

BASE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

runtime_base() {
	make_rootfs "$1"
	slim "$1"
	import "$1" "$RUNTIME_BASE" "PATH=$BASE_PATH"
}

# go_base DIR NAME: the runtime base plus this machine's Go toolchain and
# the certificate authorities this machine trusts beyond Debian's
# (SSL_CERT_FILE, /usr/local/share/ca-certificates): a network that
# inspects TLS on the way to the Go proxy and the npm registry needs them
# in the build, never in the runtime image.
go_base() {
	local dir="$1" name="$2" goroot id
	id="$($ENGINE create "$RUNTIME_BASE" true)"
	$SUDO mkdir -p "$dir"
	$ENGINE export "$id" | $SUDO tar -x -C "$dir"
	$ENGINE rm "$id" >/dev/null
	goroot="$($GO env GOROOT)"
	log "copying Go $($GO env GOVERSION) from $goroot into the builder base"
	$SUDO mkdir -p "$dir/usr/local/go" "$dir/usr/local/share/ca-certificates/host"
	$SUDO cp -a "$goroot/." "$dir/usr/local/go/"
	if [ -n "${SSL_CERT_FILE:-}" ] && [ -r "$SSL_CERT_FILE" ]; then
		$SUDO cp "$SSL_CERT_FILE" "$dir/usr/local/share/ca-certificates/host/ssl-cert-file.crt"
	fi
	if [ -d /usr/local/share/ca-certificates ]; then
		$SUDO cp -r /usr/local/share/ca-certificates/. "$dir/usr/local/share/ca-certificates/host/"
	fi
	import "$dir" "$name" "PATH=/go/bin:/usr/local/go/bin:$BASE_PATH" GOPATH=/go GOTOOLCHAIN=local
}

# remove_root DIR: a debootstrap that failed may leave /proc, /sys or /dev
# mounted inside; unmount them first, and never cross into another
# filesystem.
remove_root() {
	local m
	for m in $(findmnt -rn -o TARGET | grep -F "$1/" | sort -r || true); do
		$SUDO umount -l "$m" || true
	done
	$SUDO rm -rf --one-file-system "$1"
}

# context DIR: the files git tracks or would track (not deps/, bin/, data/),
# as in a clean clone with this working tree's edits.
context() {
	local dir="$1"
	(cd "$ROOT" && git ls-files -z -c -o --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		tar --null -T - -c) | tar -x -C "$dir"
}

build() {
	bases
	local tmp args=()
	tmp="$(mktemp -d)"
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" EXIT
	context "$tmp"
	mapfile -t args < <(build_flags)
	args+=(--build-arg "GO_IMAGE=$(go_image)")
	# The host's Go proxy and npm registry, when it has its own.
	local p
	p="$($GO env GOPROXY)"
	[ -n "$p" ] && args+=(--build-arg "GOPROXY=$p")
	if command -v npm >/dev/null 2>&1; then
		p="$(npm config get registry 2>/dev/null || true)"
		[ -n "$p" ] && args+=(--build-arg "NPM_CONFIG_REGISTRY=$p")
	fi
	local version="${VIGIL_VERSION:-}"
	if [ -z "$version" ] && version="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null)"; then
		version="dev-$version" # what a dev build says; git is read, never written
	fi
	[ -n "$version" ] && args+=(--build-arg "VIGIL_VERSION=$version")
	[ -n "${WITH_MODEL:-}" ] && args+=(--build-arg "WITH_MODEL=$WITH_MODEL")
	log "building $IMAGE with $ENGINE"
	local start=$SECONDS
	$ENGINE build "${args[@]}" -f "$tmp/docker/Dockerfile" -t "$IMAGE" "$tmp"
	log "built $IMAGE in $((SECONDS - start)) s"
	rm -rf "$tmp"
	trap - EXIT
	$ENGINE image ls "$IMAGE"
}

# test_image: docker/image_test.go's TestImage against the image, in a
# network namespace of its own (only loopback), so that the demo's ports
# never meet another vigil on this machine. The test binary is built
# first, outside, where the Go proxy is reachable.
test_image() {
	pick_engine
	apt_install util-linux iproute2 coreutils
	local tmp start=$SECONDS
	tmp="$(mktemp -d)"
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" EXIT
	(cd "$ROOT" && $GO test -tags imagetest -c -o "$tmp/docker.test" ./docker)
	log "testing $IMAGE"
	(cd "$ROOT/docker" && $SUDO env VIGIL_TEST_IMAGE="$IMAGE" VIGIL_TEST_ENGINE="$ENGINE" \
		unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh \
		"$tmp/docker.test" -test.run '^TestImage$' -test.count=1 -test.v -test.timeout 20m)
	log "tested $IMAGE in $((SECONDS - start)) s"
	rm -rf "$tmp"
	trap - EXIT
}

case "${1:-build}" in
bases) bases ;;
build) build ;;
test)
	build
	test_image
	log "make test-image took $SECONDS s in all"
	;;
test-only) test_image ;;
*) die "usage: $0 build | test | test-only | bases" ;;
esac
