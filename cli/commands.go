package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/logship/logship/cli/filebeat"
	"github.com/logship/logship/config"
	"github.com/logship/logship/embedded"
	"github.com/logship/logship/output/kafka"
)

// testOutput runs the output's connection check; with embedded: true it
// starts the embedded broker first, as the agent would, or checks the one
// a running agent has started there.
func testOutput(ctx context.Context, cfg config.Config, w io.Writer) error {
	k := cfg.Output.Kafka
	if k.Embedded {
		cluster, err := embedded.Start(k.Hosts[0], k.EmbeddedPartitions)
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			fmt.Fprintf(w, "ok    embedded broker: %s is in use (a running agent's broker?); checking what listens there\n", k.Hosts[0])
		case err != nil:
			return err
		default:
			defer cluster.Close()
			fmt.Fprintf(w, "ok    embedded broker started on %s for the check\n", k.Hosts[0])
		}
	}
	if err := kafka.Check(ctx, k, w); err != nil {
		return fmt.Errorf("output check failed: %w", err)
	}
	fmt.Fprintln(w, "output OK")
	return nil
}

// exportConfig prints the configuration as the agent uses it: defaults
// filled in, ${VAR}s expanded, secrets redacted.
func exportConfig(cfg config.Config, w io.Writer) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(cfg.Resolved()); err != nil {
		return fmt.Errorf("export config: %w", err)
	}
	return enc.Close()
}

// importFilebeat prints the logship configuration for a filebeat.yml, and
// on errw what it left out.
func importFilebeat(path string, w, errw io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	res, err := filebeat.Import(path, data)
	if res.Config != nil {
		w.Write(res.Config)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(errw, "not carried over: %s:%d: %s: %s\n", path, n.Line, n.Key, n.Why)
	}
	if err != nil {
		return fmt.Errorf("the imported configuration does not load:\n%w", err)
	}
	return nil
}
