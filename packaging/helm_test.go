package packaging

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// render renders the chart as `helm install logship -n logging` would,
// with vals over its values, and decodes every object strictly.
func render(t *testing.T, vals map[string]any) map[string]any {
	t.Helper()
	ch, err := loader.Load("helm/logship")
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Validate(); err != nil {
		t.Fatal(err)
	}
	values, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "logship", Namespace: "logging", IsInstall: true, Revision: 1}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, values)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for name, text := range files {
		if path.Ext(name) != ".yaml" {
			continue
		}
		for i, doc := range strings.Split(text, "\n---\n") {
			if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---")) == "" {
				continue // a template that rendered nothing
			}
			kind, obj := decodeStrict(t, fmt.Sprintf("%s document %d", name, i), doc)
			if _, dup := out[kind]; dup {
				t.Fatalf("two %s objects", kind)
			}
			out[kind] = obj
		}
	}
	return out
}

func kinds(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The chart renders what the plain manifests are (the same checks pass:
// mounts, probes, RBAC, GOMEMLIMIT below the limit, a configuration that
// test config accepts), and its values change what they say.
func TestHelmChart(t *testing.T) {
	m := render(t, nil)
	if got, want := kinds(m), []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet", "ServiceAccount"}; !slices.Equal(got, want) {
		t.Fatalf("rendered %q, want %q", got, want)
	}
	checkDeployment(t, m, "logging")

	m = render(t, map[string]any{
		"serviceMonitor":        map[string]any{"enabled": true},
		"mountDockerContainers": true,
		"resources":             map[string]any{"limits": map[string]any{"memory": "1Gi"}},
		"kafka":                 map[string]any{"brokers": "k1:9092,k2:9092"},
		"env":                   []any{map[string]any{"name": "KAFKA_PASSWORD", "value": "x"}},
	})
	if got, want := kinds(m), []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet", "Service", "ServiceAccount", "ServiceMonitor"}; !slices.Equal(got, want) {
		t.Fatalf("rendered %q, want %q", got, want)
	}
	checkDeployment(t, m, "logging")
	c := m["DaemonSet"].(*appsv1.DaemonSet).Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["GOMEMLIMIT"] != fmt.Sprint(1<<30*90/100) || env["KAFKA_BROKER"] != "k1:9092,k2:9092" || env["KAFKA_PASSWORD"] != "x" {
		t.Errorf("env %v", env)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool { return v.MountPath == "/var/lib/docker/containers" && v.ReadOnly }) {
		t.Error("mountDockerContainers mounted nothing")
	}
	sm := m["ServiceMonitor"].(*serviceMonitor)
	svc := m["Service"].(*corev1.Service)
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, the Service has %q", k, v, svc.Labels[k])
		}
	}
}
