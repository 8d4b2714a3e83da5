package processor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logship/logship/event"
)

func TestParsePodPath(t *testing.T) {
	for path, want := range map[string]PodPath{
		"/var/log/pods/shop_cart-7d9f_0f1e2d3c-aaaa-bbbb/cart/0.log":                    {Namespace: "shop", Pod: "cart-7d9f", UID: "0f1e2d3c-aaaa-bbbb", Container: "cart"},
		"/var/log/pods/shop_cart-7d9f_0f1e2d3c-aaaa-bbbb/cart/0.log.20261121-120000.gz": {Namespace: "shop", Pod: "cart-7d9f", UID: "0f1e2d3c-aaaa-bbbb", Container: "cart"},
		"/var/log/containers/cart-7d9f_shop_cart-1234567890abcdef.log":                  {Namespace: "shop", Pod: "cart-7d9f", Container: "cart", ContainerID: "1234567890abcdef"},
		"/var/log/containers/web-0_default_istio-proxy-abcdef.log":                      {Namespace: "default", Pod: "web-0", Container: "istio-proxy", ContainerID: "abcdef"},
		"/var/log/syslog": {},
		"/tmp/t/var/log/pods/kube-system_coredns-5d_11-22/coredns/3.log": {Namespace: "kube-system", Pod: "coredns-5d", UID: "11-22", Container: "coredns"},
	} {
		if got := ParsePodPath(path); got != want {
			t.Errorf("%s: %+v, want %+v", path, got, want)
		}
	}
}

func TestContainerFormats(t *testing.T) {
	big := make([]byte, 40000)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	path := "/var/log/pods/shop_cart-7d9f_0f1e2d3c/cart/0.log"
	for _, tc := range []struct {
		file, cfg string
		want      []string
		streams   []string
	}{
		{"cri.log", "type: container\nformat: cri", []string{"hello from stdout", "interleaved stdout line", "err part one and part two", string(big), "", "last line"}, []string{"stdout", "stdout", "stderr", "stdout", "stdout", "stdout"}},
		{"cri.log", "type: container", []string{"hello from stdout", "interleaved stdout line", "err part one and part two", string(big), "", "last line"}, nil},
		{"docker.log", "type: container\nformat: docker", []string{"hello from docker", `quoted "json" é`, "err part one and part two", string(big), "last line"}, []string{"stdout", "stdout", "stderr", "stdout", "stdout"}},
		{"docker.log", "type: container", []string{"hello from docker", `quoted "json" é`, "err part one and part two", string(big), "last line"}, nil},
		{"cri.log", "type: container\nstream: stderr", []string{"err part one and part two"}, []string{"stderr"}},
		{"cri.log", "type: container\nmax_bytes: 20000", []string{"hello from stdout", "interleaved stdout line", "err part one and part two", string(big[:20000]), "", "last line"}, nil},
	} {
		t.Run(tc.file+"/"+strings.ReplaceAll(tc.cfg, "\n", ","), func(t *testing.T) {
			lines := readLines(t, tc.file)
			events := feed(t, mustNew(t, input(t, tc.cfg)), path, lines)
			got := messages(events)
			if len(got) != len(tc.want) {
				t.Fatalf("%d events, want %d", len(got), len(tc.want))
			}
			n := 0
			for _, e := range events {
				if e.Skip {
					continue
				}
				if got[n] != tc.want[n] {
					t.Errorf("event %d: %d bytes %.40q, want %d bytes %.40q", n, len(got[n]), got[n], len(tc.want[n]), tc.want[n])
				}
				if e.Truncated != (len(tc.want[n]) == 20000) {
					t.Errorf("event %d: truncated %v", n, e.Truncated)
				}
				if e.Time.Year() != 2026 || e.Time.Equal(t0) {
					t.Errorf("event %d: time %v is not the runtime's", n, e.Time)
				}
				if tc.streams != nil {
					if s, _ := e.Field("stream"); s != tc.streams[n] {
						t.Errorf("event %d: stream %v, want %s", n, s, tc.streams[n])
					}
				}
				for name, want := range map[string]string{"kubernetes.namespace": "shop", "kubernetes.pod.name": "cart-7d9f", "kubernetes.pod.uid": "0f1e2d3c", "kubernetes.container.name": "cart"} {
					if v, _ := e.Field(name); v != want {
						t.Errorf("event %d: %s = %v, want %s", n, name, v, want)
					}
				}
				if !json.Valid([]byte("{" + string(e.Meta.JSON) + "}")) {
					t.Errorf("event %d: meta JSON %s", n, e.Meta.JSON)
				}
				n++
			}
			checkOffsets(t, events, lines)
		})
	}
}

// An event that completes while another stream's line is unfinished
// commits no further than that line's start.
func TestContainerInterleavedCommit(t *testing.T) {
	lines := readLines(t, "cri.log")[:4]
	events := feed(t, mustNew(t, input(t, "type: container")), "/x/0.log", lines)
	if len(events) != 3 {
		t.Fatalf("%d events", len(events))
	}
	if got, want := event.PositionAfter(&events[1]).Offset, int64(len(lines[0])+1); got != want {
		t.Fatalf("interleaved stdout line commits %d, want %d (where stderr's partial line starts)", got, want)
	}
	if events[2].Offset != int64(len(lines[0])+1) {
		t.Fatalf("joined stderr line starts at %d", events[2].Offset)
	}
	if want := time.Date(2026, 11, 21, 12, 0, 0, 100000000, time.UTC); !events[2].Time.Equal(want) {
		t.Fatalf("joined line's time %v, want its first part's %v", events[2].Time, want)
	}
}

func TestContainerBadLines(t *testing.T) {
	lines := []string{"not a runtime line", "2026-11-21T12:00:00Z stdout X bad tag", `{"log":"x"`, "2026-11-21T12:00:00Z stdout F ok"}
	events := feed(t, mustNew(t, input(t, "type: container")), "/x/0.log", lines)
	if got := messages(events); len(got) != 4 || got[3] != "ok" || got[0] != lines[0] {
		t.Fatalf("events %q: every line must be kept", got)
	}
	for _, e := range events[:3] {
		if e.Flags&event.FlagUnparsed == 0 {
			t.Errorf("%q not flagged unparsed", e.Line)
		}
	}
}

// A file that ends inside a runtime's partial line ships what there is.
func TestContainerPartialAtEnd(t *testing.T) {
	events := feed(t, mustNew(t, input(t, "type: container")), "/x/0.log", []string{"2026-11-21T12:00:00Z stdout P abc"})
	if len(events) != 1 || string(events[0].Line) != "abc" || events[0].Flags&event.FlagPartial == 0 {
		t.Fatalf("events %+v", events)
	}
}

// FuzzContainer: any line decodes without a panic, and every line's
// content ends up in an event or a skip (nothing vanishes).
func FuzzContainer(f *testing.F) {
	for _, name := range []string{"cri.log", "docker.log"} {
		for _, l := range readLines(f, name) {
			if len(l) < 200 {
				f.Add(l, "auto")
			}
		}
	}
	f.Add("2026-11-21T12:00:00Z stdout P ", "cri")
	f.Add(`{"log":"\u0000","stream":"stderr","time":"x"}`, "docker")
	f.Fuzz(func(t *testing.T, line, format string) {
		if format != "cri" && format != "docker" {
			format = "auto"
		}
		p := mustNew(t, input(t, "type: container\nformat: "+format))
		events := feed(t, p, "/x/0.log", []string{line, line})
		if len(events) == 0 {
			t.Fatal("no event and no skip")
		}
		if last := events[len(events)-1]; event.PositionAfter(&last).Offset != int64(2*(len(line)+1)) {
			t.Fatalf("last commit %d", event.PositionAfter(&last).Offset)
		}
	})
}

// FuzzDockerDecode checks the fast json-file decoder against encoding/json:
// whenever the fast one accepts a line, both read the same record.
func FuzzDockerDecode(f *testing.F) {
	for _, l := range readLines(f, "docker.log") {
		if len(l) < 300 {
			f.Add(l)
		}
	}
	f.Add(`{"log":"a\u00e9\ud83d\ude00\ud800x\n","stream":"stderr","time":"2026-11-21T12:00:00Z"}`)
	f.Add(`{"log":"x","log":"y","stream":"stdout","time":"2026-11-21T12:00:00Z"}`)
	f.Add(` { "stream" : "stdout" , "log" : "\t\"q\"\\/" } `)
	f.Fuzz(func(t *testing.T, line string) {
		log, stream, ts, ok := decodeDockerFast([]byte(line), nil)
		if !ok {
			return
		}
		// The time is compared apart: the fast decoder takes an empty
		// one (the read time is used), encoding/json refuses it.
		var js struct{ Log, Stream, Time string }
		if err := json.Unmarshal([]byte(line), &js); err != nil {
			t.Fatalf("fast decoder accepted %q, encoding/json: %v", line, err)
		}
		if string(log) != js.Log || string(stream) != js.Stream || string(ts) != js.Time {
			t.Fatalf("%q: fast %q/%q/%q, encoding/json %q/%q/%q", line, log, stream, ts, js.Log, js.Stream, js.Time)
		}
	})
}

// A /var/log/containers symlink gives the container id; its target in
// /var/log/pods gives the pod's UID: the event has both.
func TestContainerSymlinkPath(t *testing.T) {
	root := t.TempDir()
	pods := filepath.Join(root, "pods", "shop_cart-1_uid-1", "cart")
	if err := os.MkdirAll(pods, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(pods, "0.log")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	links := filepath.Join(root, "containers")
	if err := os.MkdirAll(links, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(links, "cart-1_shop_cart-0123abcd.log")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	events := feed(t, mustNew(t, input(t, "type: container")), link, []string{"2026-11-21T12:00:00Z stdout F hi"})
	for name, want := range map[string]string{"kubernetes.pod.uid": "uid-1", "container.id": "0123abcd", "kubernetes.namespace": "shop", "kubernetes.container.name": "cart"} {
		if v, _ := events[0].Field(name); v != want {
			t.Errorf("%s = %v, want %s", name, v, want)
		}
	}
}
