// Package cli is logship's command line: it parses arguments, loads the
// configuration, sets up logging and hands over to the agent.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/IBM/sarama"

	"github.com/logship/logship/agent"
	"github.com/logship/logship/config"
)

// Version is set at build time with -ldflags "-X github.com/logship/logship/cli.Version=…".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Commit and BuildDate may be set at build time like Version; otherwise
// they come from the VCS stamp Go puts in the binary, or say "unknown".
var Commit, BuildDate = "", ""

// build is the commit and the build (or commit) date.
func build() (commit, date string) {
	commit, date = Commit, BuildDate
	var rev, when, dirty string
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision":
				rev = s.Value
			case s.Key == "vcs.time":
				when = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = "-dirty"
			}
		}
	}
	if commit == "" && rev != "" {
		commit = rev + dirty
	}
	if date == "" {
		date = when
	}
	if commit == "" {
		commit = "unknown"
	}
	if date == "" {
		date = "unknown"
	}
	return commit, date
}

const usage = `usage:
  logship -c FILE                         run the agent with the configuration in FILE
          [-cpuprofile F] [-memprofile F]   and write Go profiles of the run to F
  logship test config -c FILE             check FILE: every problem with its line and key
  logship test output -c FILE             connect to Kafka, check the topic, produce a test record
  logship export config -c FILE           print the effective configuration, defaults included, secrets redacted
  logship registry show -c FILE           list the files the registry knows, their offsets and lag
  logship registry forget -c FILE PATH|ID forget a file (with the agent stopped): it is read again from its start
  logship version                         print the version, commit and build date
`

// Main runs the command line; stdout receives command output.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	cmd := ""
	switch {
	case len(args) > 0 && args[0] == "version":
		commit, date := build()
		fmt.Fprintf(stdout, "logship %s (commit %s, built %s, %s %s/%s)\n", version(), commit, date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	case len(args) > 1 && (args[0] == "test" || args[0] == "export" || args[0] == "registry"):
		cmd, args = args[0]+" "+args[1], args[2:]
	}
	fs := flag.NewFlagSet("logship", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var path string
	fs.StringVar(&path, "c", "", "configuration file")
	fs.StringVar(&path, "config", "", "configuration file")
	var prof profiles
	fs.StringVar(&prof.cpu, "cpuprofile", "", "write a CPU profile of the run to this file")
	fs.StringVar(&prof.mem, "memprofile", "", "write a heap profile to this file when the agent stops")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return nil
		}
		return fmt.Errorf("%v\n%s", err, usage)
	}
	rest := fs.Args()
	if cmd == "" && len(rest) > 0 {
		return fmt.Errorf("unknown command %q\n%s", strings.Join(rest, " "), usage)
	}
	if path == "" {
		return fmt.Errorf("no configuration file: use -c FILE\n%s", usage)
	}
	cfg, err := config.Load(path)
	if err == nil && (cmd == "" || cmd == "test config") {
		err = agent.Check(path, cfg)
	}
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	switch cmd {
	case "":
		log, err := newLogger(cfg.Logging, os.Stderr)
		if err != nil {
			return err
		}
		sarama.Logger = saramaLogger{log.With("component", "sarama")}
		stop, err := prof.start()
		if err != nil {
			return err
		}
		err = runAgent(ctx, cfg, path, log)
		return errors.Join(err, stop())
	case "test config":
		fmt.Fprintf(stdout, "%s: configuration OK (%d inputs)\n", path, len(cfg.Inputs))
		return nil
	case "test output":
		return testOutput(ctx, cfg, stdout)
	case "export config":
		return exportConfig(cfg, stdout)
	case "registry show":
		return registryShow(cfg, stdout)
	case "registry forget":
		if len(rest) != 1 {
			return fmt.Errorf("registry forget needs one PATH or ID\n%s", usage)
		}
		return registryForget(cfg, rest[0], stdout)
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func newLogger(c config.Logging, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("logging.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// saramaLogger sends sarama's chatter to slog at debug level.
type saramaLogger struct{ log *slog.Logger }

func (l saramaLogger) Print(v ...any) { l.log.Debug(strings.TrimSpace(fmt.Sprint(v...))) }
func (l saramaLogger) Printf(format string, v ...any) {
	l.log.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)))
}
func (l saramaLogger) Println(v ...any) { l.log.Debug(strings.TrimSpace(fmt.Sprintln(v...))) }
