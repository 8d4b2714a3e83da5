// Package packaging holds the files logship is installed with: the systemd
// unit, the deb/rpm description (nfpm), the container image and the
// Kubernetes manifests. Its tests check each against the real tools and
// types: systemd-analyze, nfpm and dpkg-deb, and k8s.io/api.
package packaging

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/logship/logship/config"
	"github.com/logship/logship/monitor"
)

const version = "1.2.3"

// logship builds the binary once, as the packages are built: with
// packaging/build.sh (static, stripped, man pages beside it).
var logship = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "logship-packaging-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("sh", "packaging/build.sh", version, dir)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{out}
	}
	return filepath.Join(dir, "logship"), nil
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
		// add_host_metadata lists interface addresses over netlink.
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
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
	pages, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), "man", "*.1.gz"))
	if len(pages) < 5 {
		t.Fatalf("build.sh wrote man pages %v", pages)
	}
	files := map[string]string{}
	for _, p := range pages {
		files[p] = "dist/man/" + filepath.Base(p)
	}
	for src, dst := range map[string]string{bin: "dist/logship", "../README.md": "README.md", "../LICENSE": "LICENSE",
		"nfpm.yaml": "packaging/nfpm.yaml", "agent.yml": "packaging/agent.yml", "systemd/logship.service": "packaging/systemd/logship.service",
		"scripts/postinstall.sh": "packaging/scripts/postinstall.sh", "scripts/preremove.sh": "packaging/scripts/preremove.sh"} {
		files[src] = dst
	}
	for src, dst := range files {
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
	for _, want := range []string{"./usr/bin/logship", "./etc/logship/agent.yml", "./usr/lib/systemd/system/logship.service", "./var/lib/logship/", "./usr/share/doc/logship/README.md",
		"./usr/share/man/man1/logship.1.gz", "./usr/share/man/man1/logship-test-config.1.gz"} {
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
	checkStatic(t, filepath.Join(root, "usr/bin/logship"))
	if got := run(t, work, nil, filepath.Join(root, "usr/bin/logship"), "version"); !strings.Contains(got, "logship "+version) {
		t.Fatalf("version: %q", got)
	}
	if got := run(t, work, nil, filepath.Join(root, "usr/bin/logship"), "test", "config", "-c", filepath.Join(root, "etc/logship/agent.yml")); !strings.Contains(got, "configuration OK") {
		t.Fatalf("test config: %q", got)
	}
}

// checkStatic fails unless the binary is a static, stripped ELF: no
// program interpreter, no shared library needed, no symbol table.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is dynamically linked (program header %v)", path, p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs %v", path, libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: not built with -s", path)
	}
	if data, _ := os.ReadFile(path); bytes.Contains(data, []byte(os.Getenv("HOME")+"/")) && os.Getenv("HOME") != "" {
		t.Errorf("%s holds paths of the build machine: not built with -trimpath", path)
	}
}

// The command line as users meet it, through the built binary: help and
// --version without a configuration, -c before or after the command,
// unknown commands and flags refused, completion scripts.
func TestCommandLine(t *testing.T) {
	bin := buildLogship(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yml")
	if err := os.WriteFile(cfg, []byte("inputs: [{paths: [\""+dir+"/*.log\"]}]\nregistry: {path: "+dir+"/registry.json}\noutput.kafka.hosts: k:9092\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exec1 := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--version"}, "logship " + version + " (commit "},
		{[]string{"version"}, "logship " + version + " (commit "},
		{[]string{"--help"}, "Available Commands:"},
		{[]string{"help", "test", "output"}, "logship test output [flags]"},
		{[]string{"test", "config", "--help"}, "each with its file:line and key"},
		{[]string{"registry", "forget", "-h"}, "logship registry forget PATH|ID"},
		{[]string{"-c", cfg, "test", "config"}, "configuration OK (1 inputs)"},
		{[]string{"test", "config", "--config", cfg}, "configuration OK (1 inputs)"},
		{[]string{"completion", "bash"}, "__start_logship"},
		{[]string{"completion", "zsh"}, "#compdef logship"},
		{[]string{"completion", "fish"}, "complete -c logship"},
	} {
		out, err := exec1(c.args...)
		if err != nil || !strings.Contains(out, c.want) {
			t.Errorf("logship %s: %v\n%s\nwant %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
	// import filebeat: the configuration on stdout (it loads), the notes
	// on stderr as well.
	imp := exec.Command(bin, "import", "filebeat", "../testdata/filebeat/java.yml")
	imp.Env = append(os.Environ(), "KAFKA_HOSTS=k:9092")
	var stdout, stderr bytes.Buffer
	imp.Stdout, imp.Stderr = &stdout, &stderr
	if err := imp.Run(); err != nil {
		t.Fatalf("import filebeat: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "not carried over: ../testdata/filebeat/java.yml:48: output.kafka.max_retries: ") {
		t.Errorf("import filebeat's notes:\n%s", stderr.String())
	}
	imported := filepath.Join(dir, "imported.yml")
	os.WriteFile(imported, stdout.Bytes(), 0o644)
	check := exec.Command(bin, "test", "config", "-c", imported)
	check.Env = imp.Env
	if out, err := check.CombinedOutput(); err != nil || !strings.Contains(string(out), "configuration OK") {
		t.Errorf("test config on the import: %v\n%s\n%s", err, out, stdout.String())
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus" for "logship"`},
		{[]string{"test", "config", "-c", cfg, "extra"}, `unknown command "extra" for "logship test config"`},
		{[]string{"test", "config", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"registry", "forget", "-c", cfg}, "accepts 1 arg(s), received 0"},
	} {
		out, err := exec1(c.args...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("logship %s: %v\n%s\nwant %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
}

// The image's configuration is valid with only KAFKA_BROKER set, and its
// control requests are not served to whoever reaches the probes.
func TestDockerConfig(t *testing.T) {
	data, err := os.ReadFile("docker/agent.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("docker/agent.yml", data, func(k string) (string, bool) {
		return "kafka:9092", k == "KAFKA_BROKER"
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.HTTP.Enabled || monitor.Loopback(cfg.HTTP.Listen) {
		t.Errorf("http.listen %s: the probes of a container runtime cannot reach it", cfg.HTTP.Listen)
	}
	checkControlPrivate(t, "docker/agent.yml", cfg.HTTP)
}
