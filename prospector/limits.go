package prospector

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// limitCheck warns once, after the first scan, when the configuration can
// run into the process's open-file limit or the kernel's inotify watches.
type limitCheck struct{ done bool }

// fdReserve is what the agent needs besides harvesters: sockets to Kafka,
// the registry, the watcher, logs.
const fdReserve = 64

func (l *limitCheck) check(log *slog.Logger, inputs []*input, files, dirs int) {
	if l.done {
		return
	}
	l.done = true
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		most, unlimited := 0, false
		for _, in := range inputs {
			if in.cfg.HarvesterLimit == 0 {
				unlimited = true
			}
			most += in.cfg.HarvesterLimit
		}
		if unlimited {
			most = files
		}
		if uint64(most+fdReserve) > rl.Cur {
			log.Warn("open files may exceed RLIMIT_NOFILE: set harvester_limit or raise the limit (LimitNOFILE= in systemd)",
				"harvesters", most, "files_matched", files, "rlimit_nofile", rl.Cur)
		}
	}
	if data, err := os.ReadFile("/proc/sys/fs/inotify/max_user_watches"); err == nil {
		if max, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && dirs > max {
			log.Warn("more directories than fs.inotify.max_user_watches: changes there are seen only by rescans",
				"directories", dirs, "max_user_watches", max)
		}
	}
}
