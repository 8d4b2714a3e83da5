package monitor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// Counters keep growing across pipelines; levels are the running one's.
func TestTotalsAcrossPipelines(t *testing.T) {
	m := New("test", time.Minute, 2)
	first := Snapshot{Inputs: []Input{{ID: "a", LinesRead: 10}, {ID: "b", LinesRead: 5}}, EventsAcked: 15,
		EventsDropped: map[string]int64{"too_large": 1}, QueueEvents: 3, KafkaConnected: true}
	m.Attach(func() Snapshot { return first })
	if s := m.Snapshot(); s.EventsAcked != 15 || s.QueueEvents != 3 {
		t.Fatalf("first pipeline: %+v", s)
	}
	m.Detach()
	if s := m.Snapshot(); s.EventsAcked != 15 || s.QueueEvents != 0 || s.Inputs[0].LinesRead != 10 {
		t.Fatalf("between pipelines: %+v", s)
	}
	second := Snapshot{Inputs: []Input{{ID: "a", LinesRead: 1}, {ID: "c", LinesRead: 7}}, EventsAcked: 8,
		EventsDropped: map[string]int64{"too_large": 2}, QueueEvents: 1}
	m.Attach(func() Snapshot { return second })
	s := m.Snapshot()
	lines := map[string]int64{}
	for _, in := range s.Inputs {
		lines[in.ID] = in.LinesRead
	}
	if s.EventsAcked != 23 || s.EventsDropped["too_large"] != 3 || s.QueueEvents != 1 || lines["a"] != 11 || lines["b"] != 5 || lines["c"] != 7 {
		t.Fatalf("second pipeline: %+v (lines %v)", s, lines)
	}
}

func TestTopFiles(t *testing.T) {
	s := Snapshot{Inputs: []Input{{ID: "a"}, {ID: "b"}}}
	TopFiles(&s, []File{{"a", "/1", 5}, {"a", "/2", 50}, {"b", "/3", 20}, {"b", "/4", 0}}, 2)
	if len(s.Files) != 2 || s.Files[0].Path != "/2" || s.Files[1].Path != "/3" {
		t.Fatalf("top files %+v", s.Files)
	}
	if s.Inputs[0].LagBytes != 55 || s.Inputs[1].LagBytes != 20 {
		t.Fatalf("input lag %+v", s.Inputs)
	}
}

func TestReady(t *testing.T) {
	m := New("test", time.Minute, 0)
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	if ok, _ := m.Ready(); ok {
		t.Fatal("ready with no pipeline")
	}
	snap := Snapshot{KafkaConnected: true, LastDelivery: now.Add(-2 * time.Minute)}
	m.Attach(func() Snapshot { return snap })
	if ok, why := m.Ready(); !ok {
		t.Fatalf("idle and connected: not ready (%s)", why)
	}
	snap.QueueEvents = 10 // waiting, nothing delivered for 2m > 1m
	if ok, _ := m.Ready(); ok {
		t.Fatal("ready while events wait and nothing is delivered")
	}
	snap.LastDelivery = now.Add(-time.Second)
	if ok, _ := m.Ready(); !ok {
		t.Fatal("not ready while delivering")
	}
	snap.KafkaConnected = false
	if ok, why := m.Ready(); ok || why != "kafka not connected" {
		t.Fatalf("ready = %v (%s) with kafka gone", ok, why)
	}
}

// http.pprof adds Go's profiles beside the monitoring endpoints, which
// keep answering; without it they are not served.
func TestPprof(t *testing.T) {
	m := New("test", time.Minute, 2)
	h := m.Handler(Control(nil, true, ""))
	for path, want := range map[string]string{"/debug/pprof/": "goroutine", "/debug/pprof/cmdline": "", "/healthz": "ok"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s: %d %.80q", path, rec.Code, rec.Body.String())
		}
	}
	rec := httptest.NewRecorder()
	m.Handler(Control(nil, false, "")).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/", nil))
	if rec.Code != 404 {
		t.Errorf("without http.pprof, /debug/pprof/ answered %d", rec.Code)
	}
}

// Control requests: refused on a public address without a token, refused
// without the token or with a wrong one, served with it. Probes and
// metrics need none.
func TestControlNeedsAuth(t *testing.T) {
	m := New("test", time.Minute, 2)
	reloads := 0
	reload := func(context.Context) error { reloads++; return nil }
	do := func(h http.Handler, method, path, auth string) (int, string) {
		req := httptest.NewRequest(method, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	public := m.Handler(nil)
	if code, body := do(public, "POST", "/reload", ""); code != 403 || !strings.Contains(body, "http.control_listen") {
		t.Errorf("public POST /reload: %d %q", code, body)
	}
	if code, _ := do(public, "GET", "/debug/pprof/", ""); code != 403 {
		t.Errorf("public /debug/pprof/: %d", code)
	}
	tokened := m.Handler(Control(reload, true, "s3cret"))
	for _, auth := range []string{"", "Bearer wrong", "s3cret", "Basic s3cret"} {
		if code, _ := do(tokened, "POST", "/reload", auth); code != 401 {
			t.Errorf("POST /reload with %q: %d, want 401", auth, code)
		}
	}
	if code, _ := do(tokened, "GET", "/debug/pprof/", "Bearer wrong"); code != 401 {
		t.Errorf("pprof with a wrong token: %d", code)
	}
	if reloads != 0 {
		t.Fatalf("%d reloads ran without the token", reloads)
	}
	if code, body := do(tokened, "POST", "/reload", "Bearer s3cret"); code != 200 || body != "reloaded\n" || reloads != 1 {
		t.Errorf("POST /reload with the token: %d %q (%d reloads)", code, body, reloads)
	}
	for _, h := range []http.Handler{public, tokened} {
		if code, _ := do(h, "GET", "/healthz", ""); code != 200 {
			t.Errorf("/healthz: %d", code)
		}
		if code, _ := do(h, "GET", "/metrics", ""); code != 200 {
			t.Errorf("/metrics: %d", code)
		}
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:5066": true, "[::1]:5066": true, "localhost:5066": true, "0.0.0.0:5066": false, ":5066": false, "10.0.0.1:5066": false, "nonsense": false} {
		if got := Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v", addr, got)
		}
	}
}

// The endpoint serves MaxConnections clients at once: one more is not
// answered until one of them goes, then it is.
func TestServeBoundsConnections(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }), slog.Default())
	}()
	get := func(c net.Conn, deadline time.Duration) error {
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(deadline))
		_, err := http.ReadResponse(bufio.NewReader(c), nil)
		return err
	}
	var held []net.Conn
	for range MaxConnections {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := get(c, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		held = append(held, c) // kept alive: it holds its place
	}
	extra, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if err := get(extra, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection %d answered (%v) while %d were open", MaxConnections+1, err, MaxConnections)
	}
	held[0].Close()
	_ = extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := http.ReadResponse(bufio.NewReader(extra), nil); err != nil {
		t.Fatalf("connection %d not answered once a place was free: %v", MaxConnections+1, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
