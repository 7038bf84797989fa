#!/bin/bash
# The image's HEALTHCHECK: exits 0 when vigil's /healthz answers 200, with
# nothing but bash (no curl in the image). /healthz needs no token.
# VIGIL_HEALTHZ_ADDR is where to ask when http.listen moves off port 8080.
addr="${VIGIL_HEALTHZ_ADDR:-127.0.0.1:8080}"
exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$addr" >&3
read -r -t 5 _ code _ <&3 || exit 1
[ "$code" = 200 ]
