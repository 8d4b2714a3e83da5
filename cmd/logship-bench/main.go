// Command logship-bench measures the whole agent: it writes log files of
// ~200-byte lines, starts an in-process Kafka-protocol broker (kfake), runs
// the logship binary on them as a subprocess until every line is in Kafka,
// stops it with SIGTERM, and reports lines/s, MB/s, the agent's CPU seconds
// per million lines and per GB, and its peak RSS (from the kernel's rusage
// of the agent process alone).
//
//	go run ./cmd/logship-bench -lines 2000000 -files 4 -codec raw
//
// -input adds keys to the input (line processing), and -cri writes the
// lines as a CRI runtime does:
//
//	go run ./cmd/logship-bench -cri -input 'type: container'
//	go run ./cmd/logship-bench -input "multiline: {pattern: '^\d{4}-', negate: true, match: after}"
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	lines := flag.Int("lines", 2_000_000, "lines to ship in all")
	files := flag.Int("files", 4, "files to spread them over")
	size := flag.Int("size", 200, "bytes per line, newline included")
	codec := flag.String("codec", "raw", "output.kafka.codec: raw or json")
	bin := flag.String("bin", "", "logship binary (default: build ./cmd/logship)")
	keep := flag.Bool("keep", false, "keep the work directory")
	input := flag.String("input", "", "YAML keys added to the input, e.g. 'type: container'")
	cri := flag.Bool("cri", false, "write lines in the CRI log format")
	flag.Parse()
	if err := run(*lines, *files, *size, *codec, *bin, *keep, *input, *cri); err != nil {
		fmt.Fprintln(os.Stderr, "logship-bench:", err)
		os.Exit(1)
	}
}

func run(lines, files, size int, codec, bin string, keep bool, input string, cri bool) error {
	dir, err := os.MkdirTemp("", "logship-bench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	if bin == "" {
		bin = filepath.Join(dir, "logship")
		build := exec.Command("go", "build", "-o", bin, "./cmd/logship")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	if err := writeFiles(dir, lines, files, size, cri); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	cluster, err := kfake.NewCluster(kfake.Ports(port), kfake.SeedTopics(3, "logs"))
	if err != nil {
		return err
	}
	defer cluster.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg := filepath.Join(dir, "agent.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `
inputs:
  - paths: ["%[1]s/logs/*.log"]
    %[4]s
registry: {path: "%[1]s/registry.json"}
output:
  kafka: {hosts: ["%[2]s"], topic: logs, codec: %[3]s}
logging: {level: warn}
`, dir, addr, codec, strings.ReplaceAll(input, "\n", "\n    ")), 0o644); err != nil {
		return err
	}

	agent := exec.Command(bin, "-c", cfg)
	agent.Stderr = os.Stderr
	start := time.Now()
	if err := agent.Start(); err != nil {
		return err
	}
	for delivered(cluster) < int64(lines) {
		if time.Since(start) > 10*time.Minute {
			_ = agent.Process.Kill()
			return errors.New("not every line arrived within 10 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if err := agent.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := agent.Wait(); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	ru := agent.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	mb := float64(lines) * float64(size) / 1e6
	fmt.Printf("lines            %d x %d bytes in %d files, codec %s, cri %v\n", lines, size, files, codec, cri)
	if input != "" {
		fmt.Printf("input            %s\n", input)
	}
	fmt.Printf("wall             %.2f s (start to last line in Kafka)\n", elapsed.Seconds())
	fmt.Printf("throughput       %.0f lines/s, %.1f MB/s\n", float64(lines)/elapsed.Seconds(), mb/elapsed.Seconds())
	fmt.Printf("agent cpu        %.2f s (user %.2f, sys %.2f)\n", cpu, time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds())
	fmt.Printf("cpu per million  %.2f CPU-s per million lines\n", cpu/float64(lines)*1e6)
	fmt.Printf("cpu per GB       %.2f CPU-s per GB\n", cpu/mb*1000)
	fmt.Printf("peak rss         %.1f MiB\n", float64(ru.Maxrss)/1024)
	return nil
}

func delivered(c *kfake.Cluster) int64 {
	var n int64
	for _, p := range c.PartitionInfos("logs") {
		n += p.HighWatermark
	}
	return n
}

func writeFiles(dir string, lines, files, size int, cri bool) error {
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return err
	}
	pad := strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", size/36+1)
	for f := range files {
		fh, err := os.Create(filepath.Join(dir, "logs", "f"+strconv.Itoa(f)+".log"))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(fh, 1<<20)
		for i := f; i < lines; i += files {
			head := fmt.Sprintf("2026-11-21T10:00:00.000Z INFO file=%d seq=%d ", f, i)
			if cri {
				head = "2026-11-21T10:00:00.123456789Z stdout F " + head
			}
			w.WriteString(head)
			w.WriteString(pad[:max(0, size-1-len(head))])
			w.WriteByte('\n')
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
