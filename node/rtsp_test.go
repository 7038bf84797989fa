package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/internal/rtsptest"
)

// TestRTSPCameraAddedAndMoved: an RTSP camera (a real RTSP server, ffmpeg
// publishing) put into a running node publishes; a new URL makes it
// reconnect to the other stream with its seq going on; DELETE stops it.
func TestRTSPCameraAddedAndMoved(t *testing.T) {
	srv := rtsptest.Start(t)
	for _, path := range []string{"one", "two"} {
		rtsptest.Publish(t, srv.URL(path), rtsptest.TestSource)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := srv.WaitPublishing(ctx, path); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	tn := startNode(t, header(t)+"cameras:\n  - {id: a, url: testsrc, fps: 5, width: 160, height: 120}\n")

	var rep Report
	if code := tn.call("PUT", "/api/config/cameras/dock", fmt.Sprintf(`{"url": %q}`, srv.URL("one")), &rep); code != 200 || rep.Outcome != "applied" {
		t.Fatalf("PUT: %d %+v", code, rep)
	}
	waitUntil(t, "the RTSP camera's tracks", func() bool { return tn.count("dock") >= 5 })
	if st := tn.Pipeline().Camera("dock").Status(); st.URL != srv.URL("one") || st.Kind != "rtsp" {
		t.Errorf("status %+v", st)
	}

	rep = Report{}
	if code := tn.call("PUT", "/api/config/cameras/dock", fmt.Sprintf(`{"url": %q}`, srv.URL("two")), &rep); code != 200 || len(rep.Reconnected) != 1 || len(rep.Added) != 0 {
		t.Fatalf("PUT a new URL: %d %+v", code, rep)
	}
	n := tn.count("dock")
	waitUntil(t, "tracks from the new stream", func() bool {
		return tn.count("dock") >= n+5 && tn.Pipeline().Camera("dock").Status().URL == srv.URL("two")
	})
	msgs := tn.messages("dock")
	for i := 1; i < len(msgs); i++ {
		if msgs[i].Seq <= msgs[i-1].Seq {
			t.Fatalf("seq %d after %d across the reconnect", msgs[i].Seq, msgs[i-1].Seq)
		}
	}
	rep = Report{}
	if code := tn.call("DELETE", "/api/config/cameras/dock", "", &rep); code != 200 || len(rep.Removed) != 1 {
		t.Fatalf("DELETE: %d %+v", code, rep)
	}
	if tn.Pipeline().Camera("dock") != nil {
		t.Error("the RTSP camera is still in the pipeline")
	}
}
