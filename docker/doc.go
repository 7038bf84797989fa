// Package docker holds vigil's container image (Dockerfile, its default
// config vigil.yaml) and a three-box fleet for compose (compose.yaml,
// fleet/). It has no code, only tests.
//
// In: the files of this folder, and, for TestImage, an image built by
// `make image`. Out: compose_test.go checks every config the image and the
// compose file carry with the code of `vigil config check` (and vigil-plc's
// loader), and that the fleet's files agree with each other and with the
// compose file; image_test.go (`make test-image`) starts the image's
// filesystem as a container runtime would and checks the demo, /healthz,
// /api/cameras, tracks on NATS, the user and the libraries.
package docker
