//go:build tools

// Package tools pins modules that work in progress is about to use, so that
// go.mod keeps them between `go mod tidy` runs. It is never built.
package tools

import (
	_ "github.com/advancedclimatesystems/gonnx/onnx"
	_ "github.com/chromedp/chromedp"
	_ "github.com/eclipse/paho.mqtt.golang"
	_ "github.com/pion/mediadevices"
	_ "github.com/pion/webrtc/v4"
	_ "github.com/simonvetter/modbus"
)
