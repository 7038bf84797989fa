// Package assets finds what vigil needs at run time but does not embed:
// the onnxruntime library, the default model and the sample media that
// `make deps` fetches into the git-ignored deps/ folder, and it embeds the
// small things that belong in the binary (the example config).
package assets
