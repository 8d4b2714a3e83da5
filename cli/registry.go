package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/logship/logship/config"
	"github.com/logship/logship/registry"
)

// registryShow lists the registry's files with their offsets and how far
// behind each is (its size now less the offset).
func registryShow(cfg config.Config, w io.Writer) error {
	reg, err := registry.Open(cfg.Registry.Path, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPATH\tOFFSET\tSIZE\tLAG\tUPDATED")
	for _, e := range reg.Entries() {
		size, lag := "-", "-"
		fi, err := os.Stat(e.Path)
		switch st, ok := statOf(fi); {
		case err != nil:
			size = "gone"
		case !ok || st.Dev != e.Dev || st.Ino != e.Inode:
			size = "path is another file now"
		default:
			size = fmt.Sprint(fi.Size())
			lag = fmt.Sprint(max(0, fi.Size()-e.Offset))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", e.ID, e.Path, e.Offset, size, lag, e.Updated.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d files in %s\n", len(reg.Entries()), cfg.Registry.Path)
	return nil
}

func statOf(fi os.FileInfo) (*syscall.Stat_t, bool) {
	if fi == nil {
		return nil, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return st, ok
}

// registryForget removes the entries of a path or an ID, so the file is
// read again from its start. It refuses while an agent holds the registry:
// the agent would write its own state over the change.
func registryForget(cfg config.Config, what string, w io.Writer) error {
	lock, err := registry.Lock(cfg.Registry.Path)
	if err != nil {
		return fmt.Errorf("%w (stop the agent first)", err)
	}
	defer lock.Unlock()
	reg, err := registry.Open(cfg.Registry.Path, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(what)
	n := 0
	for _, e := range reg.Entries() {
		if e.ID == what || e.Path == what || e.Path == abs {
			reg.Remove(e.ID)
			fmt.Fprintf(w, "forgot %s %s (was at offset %d)\n", e.ID, e.Path, e.Offset)
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("no file %q in the registry %s", what, cfg.Registry.Path)
	}
	return reg.Flush()
}
