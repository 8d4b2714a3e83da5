// Package packaging holds the files logship is installed with: the systemd
// unit, the deb/rpm description (nfpm), the container image and the
// Kubernetes manifests. Its tests check each against the real tools and
// types: systemd-analyze, nfpm and dpkg-deb, and k8s.io/api.
package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

const version = "1.2.3"

// logship builds the binary once, statically, with version set.
var logship = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "logship-packaging-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "logship")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X github.com/logship/logship/cli.Version="+version, "-o", bin, "./cmd/logship")
	cmd.Dir, cmd.Env = "..", append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{out}
	}
	return bin, nil
})

type buildError struct{ out []byte }

func (e *buildError) Error() string { return "go build: " + string(e.out) }

func buildLogship(t *testing.T) string {
	t.Helper()
	bin, err := logship()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// tool finds a program the test needs. CI installs them (.ci/run sets CI);
// elsewhere a missing one skips the test.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run installs it", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// unitKeys reads a unit file's Key=value lines (repeated keys joined by "\n").
func unitKeys(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if keys[k] != "" {
			v = keys[k] + "\n" + v
		}
		keys[k] = v
	}
	return keys
}

func TestSystemdUnit(t *testing.T) {
	analyze := tool(t, "systemd-analyze")
	unit := "systemd/logship.service"
	keys := unitKeys(t, unit)
	for k, want := range map[string]string{
		"Type":                  "notify",
		"ExecStartPre":          "/usr/bin/logship test config -c /etc/logship/agent.yml",
		"ExecStart":             "/usr/bin/logship -c /etc/logship/agent.yml",
		"ExecReload":            "/usr/bin/logship test config -c /etc/logship/agent.yml\n/bin/kill -HUP $MAINPID",
		"User":                  "logship",
		"SupplementaryGroups":   "adm",
		"ProtectSystem":         "strict",
		"ReadWritePaths":        "/var/lib/logship",
		"NoNewPrivileges":       "yes",
		"CapabilityBoundingSet": "CAP_DAC_READ_SEARCH",
		"StateDirectory":        "logship",
		"WatchdogSec":           "60s",
	} {
		if keys[k] != want {
			t.Errorf("%s=%q, want %q", k, keys[k], want)
		}
	}
	// systemd-analyze checks that the commands exist: point them at the
	// binary just built. It exits 0 on unknown keys, so any output fails.
	data, _ := os.ReadFile(unit)
	bin := buildLogship(t)
	path := filepath.Join(t.TempDir(), "logship.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte("/usr/bin/logship"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", path)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The .deb (and .rpm) are built with nfpm as a Go tool; the .deb is
// unpacked into a scratch root, where its binary and configuration are run.
func TestPackages(t *testing.T) {
	dpkgDeb := tool(t, "dpkg-deb")
	bin := buildLogship(t)
	work := t.TempDir()
	nfpm := filepath.Join(work, "nfpm")
	run(t, "..", nil, "go", "build", "-o", nfpm, "github.com/goreleaser/nfpm/v2/cmd/nfpm")
	// nfpm reads the sources relative to where it runs: stage them.
	stage := filepath.Join(work, "stage")
	for src, dst := range map[string]string{bin: "dist/logship", "../README.md": "README.md", "../LICENSE": "LICENSE",
		"nfpm.yaml": "packaging/nfpm.yaml", "agent.yml": "packaging/agent.yml", "systemd/logship.service": "packaging/systemd/logship.service",
		"scripts/postinstall.sh": "packaging/scripts/postinstall.sh", "scripts/preremove.sh": "packaging/scripts/preremove.sh"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(stage, dst)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(work, "out")
	os.MkdirAll(out, 0o755)
	env := []string{"GOARCH=" + runtime.GOARCH, "LOGSHIP_VERSION=" + version}
	run(t, stage, env, nfpm, "package", "-f", "packaging/nfpm.yaml", "-p", "deb", "-t", out)
	run(t, stage, env, nfpm, "package", "-f", "packaging/nfpm.yaml", "-p", "rpm", "-t", out)
	debs, _ := filepath.Glob(filepath.Join(out, "*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(out, "*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("packages: %v %v", debs, rpms)
	}
	deb := debs[0]
	if got := run(t, work, nil, dpkgDeb, "-f", deb, "Package", "Version", "Architecture"); !strings.Contains(got, "Package: logship") || !strings.Contains(got, "Version: "+version) {
		t.Fatalf("control fields:\n%s", got)
	}
	list := run(t, work, nil, dpkgDeb, "-c", deb)
	for _, want := range []string{"./usr/bin/logship", "./etc/logship/agent.yml", "./usr/lib/systemd/system/logship.service", "./var/lib/logship/", "./usr/share/doc/logship/README.md"} {
		if !strings.Contains(list, want) {
			t.Errorf("the package lacks %s:\n%s", want, list)
		}
	}
	control := filepath.Join(work, "control")
	run(t, work, nil, dpkgDeb, "-e", deb, control)
	if conf, _ := os.ReadFile(filepath.Join(control, "conffiles")); !strings.Contains(string(conf), "/etc/logship/agent.yml") {
		t.Errorf("agent.yml is not a conffile: %q", conf)
	}
	for _, script := range []string{"postinst", "prerm"} {
		p := filepath.Join(control, script)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("no %s: %v", script, err)
		}
		if script == "postinst" && !strings.Contains(string(data), "useradd --system") {
			t.Errorf("postinst creates no user:\n%s", data)
		}
		run(t, work, nil, "sh", "-n", p)
	}
	// Installed into a scratch root: the binary runs, the packaged
	// configuration is valid.
	root := filepath.Join(work, "root")
	run(t, work, nil, dpkgDeb, "-x", deb, root)
	if got := run(t, work, nil, filepath.Join(root, "usr/bin/logship"), "version"); !strings.Contains(got, "logship "+version) {
		t.Fatalf("version: %q", got)
	}
	if got := run(t, work, nil, filepath.Join(root, "usr/bin/logship"), "test", "config", "-c", filepath.Join(root, "etc/logship/agent.yml")); !strings.Contains(got, "configuration OK") {
		t.Fatalf("test config: %q", got)
	}
}
