package packaging

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/logship/logship/agent"
	"github.com/logship/logship/config"
	"github.com/logship/logship/monitor"
)

// manifests decodes every document of packaging/kubernetes strictly (an
// unknown or misspelt field fails) into its k8s.io/api type.
func manifests(t *testing.T) map[string]any {
	t.Helper()
	// kubectl apply -f DIR applies the files in the order of their names.
	files, _ := filepath.Glob("kubernetes/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests")
	}
	out := map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(data), "\n---\n") {
			kind, obj := decodeStrict(t, fmt.Sprintf("%s document %d", f, i), doc)
			// One `kubectl apply -f` works only when the namespace
			// comes before what goes into it.
			if o, ok := obj.(metav1.Object); ok && o.GetNamespace() != "" && out["Namespace"] == nil {
				t.Errorf("%s: %s %s comes before its namespace: kubectl apply -f would fail", f, kind, o.GetName())
			}
			out[kind] = obj
		}
	}
	return out
}

// decodeStrict decodes one manifest into its k8s.io/api type with the API
// server's own strictness: case-sensitive field names (encoding/json alone
// would take readonly for readOnly), no unknown or duplicate fields.
func decodeStrict(t *testing.T, where, doc string) (string, any) {
	t.Helper()
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var obj any
	switch tm.Kind {
	case "DaemonSet":
		obj = &appsv1.DaemonSet{}
	case "ConfigMap":
		obj = &corev1.ConfigMap{}
	case "ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "Namespace":
		obj = &corev1.Namespace{}
	case "Service":
		obj = &corev1.Service{}
	case "ClusterRole":
		obj = &rbacv1.ClusterRole{}
	case "ClusterRoleBinding":
		obj = &rbacv1.ClusterRoleBinding{}
	case "ServiceMonitor":
		obj = &serviceMonitor{}
	default:
		t.Fatalf("%s: kind %q has no check", where, tm.Kind)
	}
	js, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		t.Fatalf("%s (%s): %v", where, tm.Kind, err)
	}
	strict, err := sigsjson.UnmarshalStrict(js, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err == nil && len(strict) > 0 {
		err = errors.Join(strict...)
	}
	if err != nil {
		t.Fatalf("%s (%s): %v", where, tm.Kind, err)
	}
	return tm.Kind, obj
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) the chart writes; decoded strictly, a field
// it does not have fails.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// The manifests agree with each other and with the configuration they
// carry: mounts cover the paths read and written, probes and ports match
// http.listen, RBAC grants what the pod watch needs.
func TestKubernetesManifests(t *testing.T) {
	m := manifests(t)
	checkDeployment(t, m, m["Namespace"].(*corev1.Namespace).Name)
}

// checkDeployment checks a DaemonSet, its ConfigMap and RBAC (in
// namespace) against each other and against the configuration they carry.
func checkDeployment(t *testing.T, m map[string]any, namespace string) {
	t.Helper()
	ds := m["DaemonSet"].(*appsv1.DaemonSet)
	cm := m["ConfigMap"].(*corev1.ConfigMap)
	sa := m["ServiceAccount"].(*corev1.ServiceAccount)
	role := m["ClusterRole"].(*rbacv1.ClusterRole)
	binding := m["ClusterRoleBinding"].(*rbacv1.ClusterRoleBinding)

	for _, o := range []metav1.Object{ds, cm, sa} {
		if o.GetNamespace() != namespace {
			t.Errorf("%s is in namespace %q, not %q", o.GetName(), o.GetNamespace(), namespace)
		}
	}
	spec := ds.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]

	// The configuration: valid, with the DaemonSet's environment.
	var cfgPath string
	for i, a := range c.Args {
		if a == "-c" && i+1 < len(c.Args) {
			cfgPath = c.Args[i+1]
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	lookup := func(k string) (string, bool) {
		if e, ok := env[k]; ok {
			if e.Value != "" {
				return e.Value, true
			}
			return "from-the-downward-api", true
		}
		return "", false
	}
	data, ok := cm.Data[filepath.Base(cfgPath)]
	if !ok {
		t.Fatalf("the ConfigMap has no %s (the container runs -c %s)", filepath.Base(cfgPath), cfgPath)
	}
	cfg, err := config.Parse("configmap "+filepath.Base(cfgPath), []byte(data), lookup)
	if err != nil {
		t.Fatalf("the ConfigMap's configuration: %v", err)
	}
	// As the agent checks it at start (`logship test config`).
	t.Setenv("NODE_NAME", "node-1")
	if err := agent.Check("configmap "+filepath.Base(cfgPath), cfg); err != nil {
		t.Errorf("test config: %v", err)
	}

	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	mountOf := func(path string) (corev1.VolumeMount, bool) {
		best := ""
		for mp := range mounts {
			if (path == mp || strings.HasPrefix(path, mp+"/")) && len(mp) > len(best) {
				best = mp
			}
		}
		vm, ok := mounts[best]
		return vm, ok
	}
	if vm, ok := mountOf(cfgPath); !ok || volumes[vm.Name].ConfigMap == nil || volumes[vm.Name].ConfigMap.Name != cm.Name {
		t.Errorf("%s is not mounted from the ConfigMap %s", cfgPath, cm.Name)
	}
	// Logs read-only from the node; the registry on the node, writable.
	for _, p := range []string{"/var/log", "/var/log/pods"} {
		vm, ok := mounts[p]
		if !ok || !vm.ReadOnly || volumes[vm.Name].HostPath == nil || volumes[vm.Name].HostPath.Path != p {
			t.Errorf("%s is not a read-only hostPath mount", p)
		}
	}
	for _, in := range cfg.Inputs {
		for _, p := range append(slices.Clone(in.Paths), in.RotatedFiles...) {
			dir := p[:strings.IndexAny(p, "*?[")]
			if _, ok := mountOf(strings.TrimSuffix(dir, "/")); !ok {
				t.Errorf("input path %s is not under a mount", p)
			}
		}
		if in.AddKubernetesMetadata.Enabled {
			if e := env["NODE_NAME"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
				t.Error("add_kubernetes_metadata without NODE_NAME from spec.nodeName")
			}
		}
	}
	for _, p := range []string{cfg.Registry.Path, cfg.Output.Kafka.DeadLetter.Path} {
		vm, ok := mountOf(p)
		if !ok || vm.ReadOnly || volumes[vm.Name].HostPath == nil {
			t.Errorf("%s is not on a writable hostPath (it must outlive the pod)", p)
		}
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("the root filesystem is not read-only")
	}

	// HTTP: the port, both probes and http.listen agree.
	if !cfg.HTTP.Enabled {
		t.Fatal("http is off: the probes would fail")
	}
	checkControlPrivate(t, "the ConfigMap", cfg.HTTP)
	_, port, _ := net.SplitHostPort(cfg.HTTP.Listen)
	host, _, _ := net.SplitHostPort(cfg.HTTP.Listen)
	if host != "0.0.0.0" && host != "" {
		t.Errorf("http.listen %s is not reachable by the kubelet's probes", cfg.HTTP.Listen)
	}
	var named string
	for _, p := range c.Ports {
		if itoa(p.ContainerPort) == port {
			named = p.Name
		}
	}
	if named == "" {
		t.Fatalf("no container port %s (http.listen)", port)
	}
	for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != named {
			t.Errorf("probe for %s: %+v", want, probe)
		}
	}

	// Resources, GOMEMLIMIT from the memory limit, every node.
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Error("requests and a memory limit must be set")
	}
	// GOMEMLIMIT leaves the runtime headroom below the limit, where the
	// kernel would kill the pod: 85-95% of it.
	if limit, err := goMemLimit(env["GOMEMLIMIT"].Value); err != nil {
		t.Errorf("GOMEMLIMIT: %v", err)
	} else if max := c.Resources.Limits.Memory().Value(); limit < max*85/100 || limit > max*95/100 {
		t.Errorf("GOMEMLIMIT %d is not 85-95%% of limits.memory %d", limit, max)
	}
	if !slices.ContainsFunc(spec.Tolerations, func(tl corev1.Toleration) bool { return tl.Operator == corev1.TolerationOpExists && tl.Key == "" }) {
		t.Error("no toleration for every taint: some nodes would have no logship")
	}

	// RBAC: the pod's service account may watch pods, namespaces, nodes.
	if spec.ServiceAccountName != sa.Name || binding.RoleRef.Name != role.Name ||
		!slices.ContainsFunc(binding.Subjects, func(s rbacv1.Subject) bool { return s.Name == sa.Name && s.Namespace == sa.Namespace }) {
		t.Error("the DaemonSet's service account is not bound to the ClusterRole")
	}
	for _, res := range []string{"pods", "namespaces", "nodes"} {
		for _, verb := range []string{"get", "list", "watch"} {
			if !slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
				return slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, res) && slices.Contains(r.Verbs, verb)
			}) {
				t.Errorf("the ClusterRole does not grant %s on %s", verb, res)
			}
		}
	}
}

// checkControlPrivate fails when POST /reload is open to whoever reaches
// the probes: http.listen is public and the control requests are served
// there without a token.
func checkControlPrivate(t *testing.T, what string, h config.HTTP) {
	t.Helper()
	if h.ControlToken != "" {
		return
	}
	if h.ControlListen != "" && !monitor.Loopback(h.ControlListen) {
		t.Errorf("%s: http.control_listen %s is not a loopback address and has no token", what, h.ControlListen)
	}
}

// goMemLimit reads GOMEMLIMIT's syntax: bytes with an optional B, KiB,
// MiB, GiB or TiB.
func goMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size GOMEMLIMIT takes", s)
	}
	return n * mult, nil
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
