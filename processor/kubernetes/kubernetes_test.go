package kubernetes

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
	"github.com/logship/logship/internal/eventually"
	"github.com/logship/logship/processor"
	"gopkg.in/yaml.v3"
)

func pod(ns, name, uid, node string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), Labels: labels,
			Annotations: map[string]string{"team": "payments", lastApplied: "{...}"}},
		Spec: corev1.PodSpec{NodeName: node},
	}
}

// podsOf lists and watches pods through client-go's fake clientset.
func podsOf(ctx context.Context, client *fake.Clientset) cache.ListerWatcher {
	lw := &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) { return client.CoreV1().Pods("").List(ctx, o) },
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			return client.CoreV1().Pods("").Watch(ctx, o)
		},
	}
	// The fake does not stream lists (no bookmarks): say so to the reflector.
	return cache.ToListWatcherWithWatchListSemantics(lw, client)
}

// until waits for cond, which an informer event makes true.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventually.Within(t, 10*time.Second, what, cond)
}

func TestWatcher(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	client := fake.NewClientset(pod("shop", "cart-1", "uid-1", "node-a", map[string]string{"app": "cart"}))
	w := New(podsOf(ctx, client), config.KubernetesMetadata{CleanupTimeout: config.Duration(time.Minute)}, slog.Default())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	until(t, "the existing pod", func() bool { return w.Pod("", "", "uid-1") != nil })
	p := w.Pod("", "", "uid-1")
	if p.Labels["app"] != "cart" || p.Node != "node-a" || p.Annotations["team"] != "payments" {
		t.Fatalf("pod %+v", p)
	}
	if _, ok := p.Annotations[lastApplied]; ok {
		t.Fatal("last-applied-configuration kept")
	}
	if w.Pod("shop", "cart-1", "") != p {
		t.Fatal("not found by namespace and name")
	}

	// A new pod, then a label change: a new *Pod, so events rebuild their fields.
	pods := client.CoreV1().Pods("shop")
	if _, err := pods.Create(ctx, pod("shop", "web-1", "uid-2", "node-a", map[string]string{"app": "web"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	until(t, "the new pod", func() bool { return w.Pod("", "", "uid-2") != nil })
	changed := pod("shop", "cart-1", "uid-1", "node-a", map[string]string{"app": "cart", "version": "2"})
	if _, err := pods.Update(ctx, changed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	until(t, "the label change", func() bool { return w.Pod("", "", "uid-1").Labels["version"] == "2" })

	// Deleted: kept until cleanup_timeout has passed.
	if err := pods.Delete(ctx, "cart-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	until(t, "the deletion", func() bool {
		w.mu.RLock()
		defer w.mu.RUnlock()
		return !w.byUID["uid-1"].deleted.IsZero()
	})
	w.sweep(time.Now().Add(30 * time.Second))
	if w.Pod("", "", "uid-1") == nil {
		t.Fatal("a deleted pod's metadata was dropped before cleanup_timeout")
	}
	w.sweep(time.Now().Add(2 * time.Minute))
	if w.Pod("", "", "uid-1") != nil || w.Pod("shop", "cart-1", "") != nil {
		t.Fatal("a deleted pod's metadata outlived cleanup_timeout")
	}
	if w.Pod("", "", "uid-2") == nil {
		t.Fatal("the sweep dropped a live pod")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNode(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	if _, err := Node(config.KubernetesMetadata{}); err == nil {
		t.Fatal("no error without a node")
	}
	t.Setenv("NODE_NAME", "node-b")
	if n, _ := Node(config.KubernetesMetadata{}); n != "node-b" {
		t.Fatalf("node %q, want $NODE_NAME", n)
	}
	if n, _ := Node(config.KubernetesMetadata{Node: "node-c"}); n != "node-c" {
		t.Fatalf("node %q, want the configured one", n)
	}
}

// PodsOnNode builds a client from a kubeconfig file without contacting it.
func TestPodsOnNode(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := PodsOnNode(kc, "node-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := PodsOnNode(filepath.Join(t.TempDir(), "none"), "node-a"); err == nil {
		t.Fatal("no error for a missing kubeconfig")
	}
}

// Container events of a watched pod carry its labels and annotations,
// and pick up a change.
func TestEnrichesContainerEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	client := fake.NewClientset(pod("shop", "cart-1", "uid-1", "node-a", map[string]string{"app": "cart"}))
	w := New(podsOf(ctx, client), config.KubernetesMetadata{CleanupTimeout: config.Duration(time.Minute)}, slog.Default())
	go w.Run(ctx)
	until(t, "the pod", func() bool { return w.Pod("", "", "uid-1") != nil })

	var in config.Input
	if err := yaml.Unmarshal([]byte("{type: container, paths: [/x], add_kubernetes_metadata: {enabled: true}}"), &in); err != nil {
		t.Fatal(err)
	}
	pl, err := processor.New(&in, processor.Options{HostName: "h", Pods: w})
	if err != nil {
		t.Fatal(err)
	}
	c := pl.Chain(&event.Source{ID: "x", Path: "/var/log/pods/shop_cart-1_uid-1/cart/0.log"})
	line := func() *event.Event {
		c.Line(&event.Raw{Text: []byte("2026-11-21T12:00:00Z stdout F hi"), End: 34})
		return &c.Events()[0]
	}
	e := line()
	for name, want := range map[string]string{"kubernetes.labels.app": "cart", "kubernetes.annotations.team": "payments", "kubernetes.node.name": "node-a", "kubernetes.pod.name": "cart-1"} {
		if v, _ := e.Field(name); v != want {
			t.Errorf("%s = %v, want %s", name, v, want)
		}
	}
	changed := pod("shop", "cart-1", "uid-1", "node-a", map[string]string{"app": "cart", "version": "2"})
	if _, err := client.CoreV1().Pods("shop").Update(ctx, changed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	until(t, "the label change", func() bool { v, _ := line().Field("kubernetes.labels.version"); return v == "2" })
}
