package e2e

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
)

// The rotation matrix: each case writes lines with unique sequence numbers
// while files are rotated, truncated or removed, and checks on the Kafka
// side that every line arrived exactly once (except inside copytruncate's
// documented window), then that the agent's open fds and goroutines are back
// to their baseline.

// write appends lines [from, to) of stream s to path, per lines every tick,
// calling rotate after every `every` lines (0: never).
func write(t *testing.T, path string, s, from, to, per int, tick time.Duration, every int, rotate func()) {
	for seq := from; seq < to; {
		n := min(per, to-seq)
		if every > 0 {
			n = min(n, every-seq%every)
		}
		testlines.Append(t, path, s, seq, seq+n)
		seq += n
		if every > 0 && seq%every == 0 && seq < to {
			rotate()
		}
		time.Sleep(tick)
	}
}

// shift renames name.N to name.N+1 (highest first), then name to name.1;
// suffix is "" or ".gz".
func shift(t *testing.T, name, suffix string) {
	for i := 20; i >= 1; i-- {
		from := fmt.Sprintf("%s.%d%s", name, i, suffix)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, fmt.Sprintf("%s.%d%s", name, i+1, suffix)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func renameRotate(t *testing.T, path string) {
	shift(t, path, "")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
}

func gzipFile(t *testing.T, from, to string) {
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to + ".tmp")
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(from); err != nil {
		t.Fatal(err)
	}
}

// Rename rotation every 10,000 lines while writing ~10,000 lines/s.
func TestRotationRename(t *testing.T) {
	t.Parallel()
	r := newRig(t, `paths: ["%s/app.log"]`)
	app := r.begin("app.log", 0, 1000)
	start := time.Now()
	write(t, app, 0, 1000, 60_000, 500, 50*time.Millisecond, 10_000, func() { renameRotate(t, app) })
	rate := float64(59_000) / time.Since(start).Seconds() // reported, not asserted: speed is for benchmarks
	r.exactlyOnce(1, 60_000)
	r.backToBaseline()
	// Rotated files are outside the glob: once closed, their entries go.
	reg := filepath.Join(r.dir, "data", "registry.json")
	r.waitFor("the registry to hold app.log alone", func() bool { return len(testlines.RegistryOffsets(t, reg)) == 1 })
	if off := testlines.RegistryOffsets(t, reg)[app]; off != 10_000*testlines.LineLen {
		t.Fatalf("app.log at %d in the registry, want %d", off, 10_000*testlines.LineLen)
	}
	t.Logf("%.0f lines/s written, 5 rotations", rate)
}

// Rename rotation with the rotated file compressed at once (logrotate's
// compress without delaycompress).
func TestRotationRenameGzip(t *testing.T) {
	t.Parallel()
	r := newRig(t, `paths: ["%[1]s/app.log"]
rotated_files: ["%[1]s/app.log.*"]
decompress: auto`)
	app := r.begin("app.log", 0, 1000)
	write(t, app, 0, 1000, 50_000, 500, 50*time.Millisecond, 10_000, func() {
		shift(t, app, ".gz")
		renameRotate(t, app)
		gzipFile(t, app+".1", app+".1.gz")
	})
	r.exactlyOnce(1, 50_000)
	r.backToBaseline()
}

// copytruncate: the file is copied, then truncated. Lines written between
// the copy and the truncation are lost (the documented window); every
// other line arrives exactly once.
func TestRotationCopyTruncate(t *testing.T) {
	t.Parallel()
	r := newRig(t, `paths: ["%[1]s/app.log"]
rotated_files: ["%[1]s/app.log.*"]`)
	app := r.begin("app.log", 0, 1000)
	window := map[int]bool{}
	// The copy's last 2 KiB may be sent again when the original was read
	// past the copy's end (into the window): it resumes at the last
	// position of the original it holds.
	maySendTwice := map[int]bool{}
	seq := 1000
	for range 4 {
		testlines.Append(t, app, 0, seq, seq+10_000)
		seq += 10_000
		time.Sleep(200 * time.Millisecond)
		// copytruncate, with the application writing 50 lines between the
		// copy and the truncation.
		shift(t, app, "")
		copyFile(t, app, app+".1")
		testlines.Append(t, app, 0, seq, seq+50)
		for i := seq; i < seq+50; i++ {
			window[i] = true
		}
		for i := seq - 2048/testlines.LineLen; i < seq; i++ {
			maySendTwice[i] = true
		}
		seq += 50
		if err := os.Truncate(app, 0); err != nil {
			t.Fatal(err)
		}
	}
	testlines.Append(t, app, 0, seq, seq+1000)
	seq += 1000
	r.consume(seq - len(window))
	r.drain() // lines in the window may still come
	lost := 0
	for i := range seq {
		n := r.seen.Count[[2]int{0, i}]
		switch {
		case window[i] && n == 0:
			lost++
		case maySendTwice[i] && n == 2:
		case n != 1:
			t.Fatalf("line %d arrived %d times (in the window: %v)", i, n, window[i])
		}
	}
	r.backToBaseline()
	t.Logf("%d lines, %d lost inside the copytruncate window of %d lines", seq, lost, len(window))
}

func copyFile(t *testing.T, from, to string) {
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Three rename rotations while the agent is stopped: the rotated files'
// unread tails are found by identity, the files created meanwhile read whole.
func TestRotationWhileStopped(t *testing.T) {
	t.Parallel()
	r := newRig(t, `paths: ["%[1]s/app.log"]
rotated_files: ["%[1]s/app.log.*"]`)
	app := r.path("app.log")
	testlines.Append(t, app, 0, 0, 5000)
	r.start()
	r.consume(5000)
	r.stop()
	seq := 5000
	for range 3 {
		testlines.Append(t, app, 0, seq, seq+3000)
		seq += 3000
		renameRotate(t, app)
	}
	testlines.Append(t, app, 0, seq, seq+3000)
	seq += 3000
	r.start()
	// The baseline once Kafka took a line of this run (the first run's
	// 5,000 arrived already): the producer's goroutines are up by then
	// (taken before, under load, they counted as a leak).
	r.consume(5001)
	r.baseline()
	r.exactlyOnce(1, seq)
	r.backToBaseline()
}

// A file deleted while it is being read is read to its end, then closed.
func TestDeleteWhileReading(t *testing.T) {
	t.Parallel()
	r := newRig(t, `paths: ["%s/*.log"]`)
	r.begin("keep.log", 1, 10)
	testlines.Append(t, r.path("big.log"), 0, 0, 300_000)
	r.waitFor("the first lines of big.log", func() bool {
		for _, rec := range r.consumer.Poll(t.Context(), 100*time.Millisecond) {
			r.seen.Add(string(rec.Value))
		}
		return r.seen.Distinct() > 20
	})
	if err := os.Remove(r.path("big.log")); err != nil {
		t.Fatal(err)
	}
	if r.seen.Distinct() >= 300_010 {
		t.Fatal("read to the end before the delete: the case proves nothing")
	}
	r.consume(300_010)
	if r.seen.Dups != 0 {
		t.Fatalf("%d duplicates", r.seen.Dups)
	}
	r.backToBaseline()
}

// A deleted file's inode taken by a new file: the new file is read from its
// start, while running and across a restart.
func TestInodeReuse(t *testing.T) {
	t.Parallel()
	r := newRig(t, `paths: ["%s/*.log"]`)
	ownExt4(t, r.logs)
	r.begin("a.log", 0, 3000)
	ino := inode(t, r.path("a.log"))
	reuse := func(stream int) {
		if err := os.Remove(r.path("a.log")); err != nil {
			t.Fatal(err)
		}
		// The inode is free once the harvester has let go of it.
		if r.a != nil {
			r.waitFor("the deleted file to close", func() bool { p, _ := r.progress(); return p[1] == 0 })
		}
		// The allocator hands out lower free inodes first: hold on to the
		// files that got those until one gets the inode that was freed.
		var held []string
		defer func() {
			for _, h := range held {
				os.Remove(h)
			}
		}()
		for i := range 20000 {
			tmp := r.path(fmt.Sprintf("hold-%d.tmp", i))
			testlines.Append(t, tmp, stream, 0, 100)
			if inode(t, tmp) == ino {
				if err := os.Rename(tmp, r.path("b.log")); err != nil {
					t.Fatal(err)
				}
				return
			}
			held = append(held, tmp)
		}
		if os.Getenv("CI") != "" {
			// CI gets a filesystem of its own that reuses inodes: a
			// skip there would hide the case.
			t.Fatalf("the filesystem did not reuse inode %d", ino)
		}
		t.Skipf("the filesystem did not reuse inode %d", ino)
	}
	reuse(1)
	r.consume(3100)
	// Across a restart: the registry has b.log at 6400 bytes under the inode.
	r.stop()
	if err := os.Rename(r.path("b.log"), r.path("a.log")); err != nil {
		t.Fatal(err)
	}
	reuse(2)
	r.start()
	r.consume(3200)
	r.backToBaseline()
	for s := 1; s <= 2; s++ {
		for i := range 100 {
			if n := r.seen.Count[[2]int{s, i}]; n != 1 {
				t.Fatalf("stream %d line %d arrived %d times", s, i, n)
			}
		}
	}
	for i := range 3000 {
		if r.seen.Count[[2]int{0, i}] != 1 {
			t.Fatalf("stream 0 line %d arrived %d times", i, r.seen.Count[[2]int{0, i}])
		}
	}
}

var peakLine = regexp.MustCompile(`msg=progress .*open_files_peak=(\d+)`)

func inode(t *testing.T, path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// Truncation to zero, then new lines: read again from the start.
func TestTruncateAndRegrow(t *testing.T) {
	t.Parallel()
	r := newRig(t, `paths: ["%s/a.log"]`)
	r.begin("a.log", 0, 2000)
	if err := os.Truncate(r.path("a.log"), 0); err != nil {
		t.Fatal(err)
	}
	// Longer than before, in one go: the size alone does not show the
	// truncation, the bytes before the old offset do.
	testlines.Append(t, r.path("a.log"), 1, 0, 3000)
	r.consume(5000)
	r.drain()
	if r.seen.Dups != 0 || r.seen.Distinct() != 5000 || len(r.seen.Missing(2, 2000)) > 0 {
		t.Fatalf("%d distinct, %d duplicates, missing %v", r.seen.Distinct(), r.seen.Dups, r.seen.Missing(2, 2000))
	}
	r.backToBaseline()
}

// A file shorter than the fingerprint: shipped, grown, restarted, no repeats.
func TestShortFile(t *testing.T) {
	t.Parallel()
	r := newRig(t, `paths: ["%s/a.log"]`)
	r.begin("a.log", 0, 3) // 192 bytes
	testlines.Append(t, r.path("a.log"), 0, 3, 5)
	r.consume(5)
	r.stop()
	testlines.Append(t, r.path("a.log"), 0, 5, 40) // past the fingerprint size
	r.start()
	r.exactlyOnce(1, 40)
	r.stop()
	r.start()
	testlines.Append(t, r.path("a.log"), 0, 40, 41)
	r.exactlyOnce(1, 41)
	r.backToBaseline() // against the first run's: same binary, same work
}

// 1,000 files, at most 100 open at once.
func TestHarvesterLimit(t *testing.T) {
	t.Parallel()
	r := newRig(t, `paths: ["%s/*.log"]
harvester_limit: 100
close_eof: true`)
	testlines.Append(t, r.path("warm.log"), 1000, 0, 20)
	r.start()
	r.consume(20)
	r.settle(0)
	for f := range 1000 {
		testlines.Append(t, r.path(fmt.Sprintf("f%04d.log", f)), f, 0, 20)
	}
	r.exactlyOnce(1001, 20)
	r.freshProgress()
	data, _ := os.ReadFile(r.a.log.Name())
	m := peakLine.FindAllSubmatch(data, -1)
	if len(m) == 0 {
		t.Fatal("no open_files_peak in the progress lines")
	}
	most, _ := strconv.Atoi(string(m[len(m)-1][1]))
	if most == 0 || most > 100 {
		t.Fatalf("at most %d files open at once, limit 100", most)
	}
	r.backToBaseline()
	t.Logf("at most %d files open at once", most)
}

// Two symbolic links to one file (outside the glob): shipped once.
func TestSymlinks(t *testing.T) {
	t.Parallel()
	r := newRig(t, `paths: ["%s/*.log"]
symlinks: true`)
	target := filepath.Join(r.dir, "target.txt")
	testlines.Append(t, target, 0, 0, 500)
	for _, l := range []string{"one.log", "two.log"} {
		if err := os.Symlink(target, r.path(l)); err != nil {
			t.Fatal(err)
		}
	}
	r.start()
	r.exactlyOnce(1, 500)
	r.baseline()
	testlines.Append(t, target, 0, 500, 600)
	r.exactlyOnce(1, 600)
	r.backToBaseline()
}

// A glob whose directory does not exist at start.
func TestDirectoryAppearsLater(t *testing.T) {
	t.Parallel()
	r := newRig(t, `paths: ["%s/later/*/*.log"]`)
	r.start()
	r.freshProgress() // scans every 200 ms: a few with the directory missing
	testlines.Append(t, filepath.Join(r.logs, "later", "x", "a.log"), 0, 0, 1000)
	r.consume(1000)
	r.settle(0) // connected, the file closed after close_inactive
	testlines.Append(t, filepath.Join(r.logs, "later", "y", "b.log"), 1, 0, 1000)
	r.exactlyOnce(2, 1000)
	r.backToBaseline()
}

// The agent is killed before its first registry flush, the file rotated
// while it is down: the next start is not a first start (which takes
// rotated files for history), so the rotated file's unread lines arrive
// (found by TestModel, seed 3).
func TestKilledBeforeFirstFlush(t *testing.T) {
	t.Parallel()
	kc := kafkatest.Start(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yml")
	logs := filepath.Join(dir, "logs")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `
inputs:
  - paths: ["%[1]s/app.log"]
    rotated_files: ["%[1]s/app.log.*"]
registry: {path: "%[2]s/data/registry.json", flush_interval: 1h}
output: {kafka: {hosts: ["%[3]s"], topic: logs, codec: raw}}
`, logs, dir, kc.Addr), 0o644); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(logs, "app.log")
	testlines.Append(t, app, 0, 0, 100)
	a := startAgent(t, cfg, 0)
	seen := testlines.NewSeen()
	c := kafkatest.NewConsumer(t, kc.Addr, "logs")
	until := func(n int) { t.Helper(); consumeUntil(t, c, seen, n, time.Minute) }
	until(100)
	a.kill9(t)
	testlines.Append(t, app, 0, 100, 200) // written while down, then rotated
	if err := os.Rename(app, app+".1"); err != nil {
		t.Fatal(err)
	}
	testlines.Append(t, app, 1, 0, 100)
	startAgent(t, cfg, 1)
	until(300)
	if miss := seen.Missing(1, 200); len(miss) > 0 {
		t.Fatalf("missing %v", miss)
	}
}

// ownExt4 mounts a small ext4 filesystem of the test's own on dir, where
// a freed inode goes to the next file created and no other process takes
// it. It needs root, mkfs.ext4 and a loop device; without them the test's
// own filesystem is used, which under CI is an error.
func ownExt4(t *testing.T, dir string) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.ext4")
	run := func(name string, args ...string) error {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %v: %v: %s", name, args, err, out)
		}
		return nil
	}
	err := os.WriteFile(img, nil, 0o600)
	if err == nil {
		err = os.Truncate(img, 64<<20)
	}
	if err == nil {
		err = run("mkfs.ext4", "-q", "-F", img)
	}
	if err == nil && os.Geteuid() == 0 {
		err = run("mount", "-o", "loop", img, dir)
	} else if err == nil {
		err = errors.New("not root")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot mount a filesystem of the test's own: %v", err)
		}
		t.Logf("on the test's own filesystem (%v)", err)
		return
	}
	t.Cleanup(func() {
		if err := run("umount", dir); err != nil {
			t.Error(err)
		}
	})
}
