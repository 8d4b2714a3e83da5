package agent

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/logship/logship/config"
	"github.com/logship/logship/output/kafka"
	"github.com/logship/logship/processor"
	"github.com/logship/logship/processor/kubernetes"
	"github.com/logship/logship/prospector"
	"github.com/logship/logship/registry"
)

// Check builds every stage cfg describes, starting none, and reports what
// the agent would refuse at start beyond what config validation sees: the
// output's topic and key formats, the inputs' patterns and processors, the
// node of the pod watcher, what is at registry.path. `logship test config`
// and a reload run it, so neither passes a file the agent refuses.
// Each error starts with file, the configuration's name.
func Check(file string, cfg config.Config) error {
	return errors.Join(check(file, cfg)...)
}

func check(file string, cfg config.Config) (errs []error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	defer func() {
		for i, err := range errs {
			errs[i] = fmt.Errorf("%s: %w", file, err)
		}
	}()
	if _, err := kafka.New(cfg.Output.Kafka, "check", log); err != nil {
		errs = append(errs, err)
	}
	if _, err := prospector.New(cfg.Inputs, nil, nil, log); err != nil {
		errs = append(errs, err)
	}
	for i := range cfg.Inputs {
		in := &cfg.Inputs[i]
		if _, err := processor.New(in, processor.Options{Log: log}); err != nil {
			errs = append(errs, fmt.Errorf("inputs[%d]: %w", i, err))
		}
		if in.AddKubernetesMetadata.Enabled {
			if _, err := kubernetes.Node(in.AddKubernetesMetadata); err != nil {
				errs = append(errs, fmt.Errorf("inputs[%d]: %w", i, err))
			}
		}
	}
	if _, _, err := registry.Resolve(cfg.Registry.Path); err != nil {
		errs = append(errs, fmt.Errorf("registry.path: %w", err))
	}
	return errs
}
