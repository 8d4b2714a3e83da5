// Package cli is logship's command line: it parses arguments, loads the
// configuration, sets up logging and hands over to the agent.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/IBM/sarama"
	"github.com/spf13/cobra"

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

// DefaultConfigPath is the configuration read when -c is not given and
// the file exists (the packages install it there).
var DefaultConfigPath = "/etc/logship/agent.yml"

// Main runs the command line; stdout receives command output and help,
// standard error what a command reports beside it (import's notes).
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	cmd := Command()
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(os.Stderr)
	return cmd.ExecuteContext(ctx)
}

// Command is logship's command tree. Run without a subcommand it runs the
// agent; -c is accepted before or after the subcommand.
func Command() *cobra.Command {
	var path string
	var prof profiles
	load := func(check bool) (config.Config, string, error) {
		p, err := configPath(path)
		if err != nil {
			return config.Config{}, "", err
		}
		cfg, err := config.Load(p)
		if err == nil && check {
			err = agent.Check(p, cfg)
		}
		if err != nil {
			return cfg, p, fmt.Errorf("invalid configuration:\n%w", err)
		}
		return cfg, p, nil
	}
	root := &cobra.Command{
		Use:   "logship",
		Short: "Ship log files to Kafka, every line at least once",
		Long: `logship tails the files its configuration names and delivers every line to
Kafka; a file's offset moves only after Kafka acknowledged its lines.

Without a command it runs the agent: SIGHUP (or systemctl reload) reloads
the configuration, SIGTERM stops it after the queue drained or
shutdown_timeout passed.`,
		Example: `  logship -c agent.yml                 run the agent
  logship test config -c agent.yml     check a configuration
  logship help test output             what a command does`,
		Version:       version(),
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, p, err := load(true)
			if err != nil {
				return err
			}
			log, err := newLogger(cfg.Logging, os.Stderr)
			if err != nil {
				return err
			}
			sarama.Logger = saramaLogger{log.With("component", "sarama")}
			stop, err := prof.start()
			if err != nil {
				return err
			}
			err = runAgent(cmd.Context(), cfg, p, log)
			return errors.Join(err, stop())
		},
	}
	commit, date := build()
	root.SetVersionTemplate(versionLine(commit, date))
	root.PersistentFlags().StringVarP(&path, "config", "c", "", "configuration file (default "+DefaultConfigPath+" when it exists)")
	root.Flags().StringVar(&prof.cpu, "cpuprofile", "", "write a CPU profile of the run to this `file`")
	root.Flags().StringVar(&prof.mem, "memprofile", "", "write a heap profile to this `file` when the agent stops")
	root.MarkPersistentFlagFilename("config", "yml", "yaml")

	group := func(use, short string, subs ...*cobra.Command) *cobra.Command {
		c := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() }}
		c.AddCommand(subs...)
		return c
	}
	root.AddCommand(
		group("test", "Check a configuration or the connection to Kafka",
			&cobra.Command{
				Use:   "config",
				Short: "Check the configuration: every problem with its file, line and key",
				Long: `Check the configuration as the agent would at start: the file's keys and
values, then every stage built without being started (globs, regexps,
topic formats, the registry path, the Kafka client's own checks). Every
problem is reported in one pass, each with its file:line and key.`,
				Args: cobra.NoArgs,
				RunE: func(cmd *cobra.Command, _ []string) error {
					cfg, p, err := load(true)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s: configuration OK (%d inputs)\n", p, len(cfg.Inputs))
					return nil
				},
			},
			&cobra.Command{
				Use:   "output",
				Short: "Connect to Kafka, check the topic, produce a test record",
				Long: `Connect to the brokers, check the protocol version and the topic (without
creating it), and produce one record to health_check_topic when it is set.`,
				Args: cobra.NoArgs,
				RunE: func(cmd *cobra.Command, _ []string) error {
					cfg, _, err := load(false)
					if err != nil {
						return err
					}
					return testOutput(cmd.Context(), cfg, cmd.OutOrStdout())
				},
			}),
		group("export", "Print the configuration in effect",
			&cobra.Command{
				Use:   "config",
				Short: "Print the effective configuration: defaults in, ${VAR}s expanded, secrets redacted",
				Long: `Print the configuration as the agent uses it. Without a configuration file
(no -c and no ` + DefaultConfigPath + `) it prints the defaults, with one input.`,
				Args: cobra.NoArgs,
				RunE: func(cmd *cobra.Command, _ []string) error {
					if path == "" && !exists(DefaultConfigPath) {
						return exportConfig(config.Defaults(), cmd.OutOrStdout())
					}
					cfg, _, err := load(false)
					if err != nil {
						return err
					}
					return exportConfig(cfg, cmd.OutOrStdout())
				},
			}),
		group("registry", "Show or edit the registry of file offsets",
			&cobra.Command{
				Use:   "show",
				Short: "List the files the registry knows, their offsets and lag",
				Args:  cobra.NoArgs,
				RunE: func(cmd *cobra.Command, _ []string) error {
					cfg, _, err := load(false)
					if err != nil {
						return err
					}
					return registryShow(cfg, cmd.OutOrStdout())
				},
			},
			&cobra.Command{
				Use:   "forget PATH|ID",
				Short: "Forget a file (with the agent stopped): it is read again from its start",
				Args:  cobra.ExactArgs(1),
				RunE: func(cmd *cobra.Command, args []string) error {
					cfg, _, err := load(false)
					if err != nil {
						return err
					}
					return registryForget(cfg, args[0], cmd.OutOrStdout())
				},
			}),
		group("import", "Translate another shipper's configuration into logship's",
			&cobra.Command{
				Use:   "filebeat FILE",
				Short: "Print a logship configuration equivalent to a filebeat.yml, and what it could not carry over",
				Long: `Print a logship configuration equivalent to the filebeat.yml given: its log,
filestream and container inputs (multiline, json, parsers, processors,
fields and tags), and output.kafka (topics, partition, codec, TLS, SASL).
Every key that could not be carried over is listed, with its line and why,
at the top of the configuration and on standard error. The configuration
printed is checked as test config would check it.`,
				Example: `  logship import filebeat /etc/filebeat/filebeat.yml > /etc/logship/agent.yml
  logship test config -c /etc/logship/agent.yml`,
				Args: cobra.ExactArgs(1),
				RunE: func(cmd *cobra.Command, args []string) error {
					return importFilebeat(args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
				},
			}),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version, commit and build date",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				fmt.Fprint(cmd.OutOrStdout(), versionLine(commit, date))
				return nil
			},
		},
	)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())
	})
	return root
}

// ExitCode is the exit status for Main's error: 0 without one, 3 for a
// stop that left events unacknowledged (read again at the next start) and
// nothing else, 1 for every failure, events left or not (a fenced agent).
func ExitCode(err error) int {
	var u *agent.Unacknowledged
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u) && onlyUnacknowledged(err):
		return 3
	}
	return 1
}

// onlyUnacknowledged reports whether err says nothing but that events were
// left unacknowledged.
func onlyUnacknowledged(err error) bool {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			if !onlyUnacknowledged(e) {
				return false
			}
		}
		return true
	}
	var u *agent.Unacknowledged
	return errors.As(err, &u)
}

func versionLine(commit, date string) string {
	return fmt.Sprintf("logship %s (commit %s, built %s, %s %s/%s)\n", version(), commit, date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// configPath is -c, or the default path when that file exists.
func configPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if exists(DefaultConfigPath) {
		return DefaultConfigPath, nil
	}
	return "", fmt.Errorf("no configuration file: use -c FILE (%s does not exist)", DefaultConfigPath)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
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
