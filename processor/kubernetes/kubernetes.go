// Package kubernetes keeps the metadata of the pods on this node, watched on
// the API server, for add_kubernetes_metadata: container events get their
// pod's labels and annotations. The watch is scoped to the node
// (spec.nodeName), cached, and a deleted pod's metadata is kept for a while
// so the last lines it wrote are still enriched.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/logship/logship/config"
	"github.com/logship/logship/processor"
)

// lastApplied is kubectl's copy of the whole object: large, never useful in logs.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Watcher is a processor.PodLookup fed by a pod informer. Create it with
// New; run it once with Run. Pod is safe for concurrent use.
type Watcher struct {
	lw      cache.ListerWatcher
	cleanup time.Duration
	include []string
	log     *slog.Logger
	now     func() time.Time

	mu     sync.RWMutex
	byUID  map[string]*entry
	byName map[string]*entry // namespace/name
}

type entry struct {
	pod     *processor.Pod
	ns      string
	name    string
	deleted time.Time // zero while the pod exists
}

var _ processor.PodLookup = (*Watcher)(nil)

// Node is the node whose pods are watched: cfg.Node, or $NODE_NAME.
func Node(cfg config.KubernetesMetadata) (string, error) {
	node := cfg.Node
	if node == "" {
		node = os.Getenv("NODE_NAME")
	}
	if node == "" {
		return "", errors.New("add_kubernetes_metadata: node is not set and NODE_NAME is empty (set it from spec.nodeName in the DaemonSet)")
	}
	return node, nil
}

// PodsOnNode lists and watches the pods on node through the API server:
// with a kubeconfig file, or the in-cluster configuration (the pod's
// service account) when kubeconfig is empty. Only core/v1 is spoken: the
// full client-go clientset would add every API group to the binary and
// about 18 MiB to the agent's memory.
func PodsOnNode(kubeconfig, node string) (cache.ListerWatcher, error) {
	var rc *rest.Config
	var err error
	if kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(rc)
	cfg.UserAgent = "logship"
	cfg.APIPath = "/api"
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	client, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cache.NewListWatchFromClient(client, "pods", metav1.NamespaceAll, fields.OneTermEqualSelector("spec.nodeName", node)), nil
}

// New returns a watcher of the pods lw lists (those of one node).
func New(lw cache.ListerWatcher, cfg config.KubernetesMetadata, log *slog.Logger) *Watcher {
	return &Watcher{
		lw: lw, cleanup: cfg.CleanupTimeout.D(), include: cfg.IncludeAnnotations,
		log: log.With("component", "kubernetes"), now: time.Now,
		byUID: map[string]*entry{}, byName: map[string]*entry{},
	}
}

// Run watches pods until ctx is done. An unreachable API server is retried
// by the informer; meanwhile events carry what their paths tell.
func (w *Watcher) Run(ctx context.Context) error {
	inf := cache.NewSharedIndexInformer(w.lw, &corev1.Pod{}, 0, cache.Indexers{})
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.set(obj) },
		UpdateFunc: func(_, obj any) { w.set(obj) },
		DeleteFunc: func(obj any) { w.deleted(obj) },
	}); err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { inf.Run(ctx.Done()) })
	defer wg.Wait()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil // ctx ended first
	}
	w.log.Info("pod metadata synced", "pods", w.size())
	tick := time.NewTicker(max(w.cleanup/2, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			w.sweep(w.now())
		}
	}
}

// Pod implements processor.PodLookup.
func (w *Watcher) Pod(namespace, name, uid string) *processor.Pod {
	w.mu.RLock()
	defer w.mu.RUnlock()
	var e *entry
	if uid != "" {
		e = w.byUID[uid]
	} else {
		e = w.byName[namespace+"/"+name]
	}
	if e == nil {
		return nil
	}
	return e.pod
}

func (w *Watcher) size() int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return len(w.byUID)
}

func (w *Watcher) set(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	pod := &processor.Pod{UID: string(p.UID), Node: p.Spec.NodeName, Labels: maps.Clone(p.Labels), Annotations: w.annotations(p.Annotations)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if old := w.byUID[pod.UID]; old != nil && same(old.pod, pod) && old.deleted.IsZero() {
		return // a resync or a status change: keep the pointer, so nothing is rebuilt
	}
	e := &entry{pod: pod, ns: p.Namespace, name: p.Name}
	w.byUID[pod.UID] = e
	w.byName[p.Namespace+"/"+p.Name] = e
}

func same(a, b *processor.Pod) bool {
	return a.Node == b.Node && maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func (w *Watcher) deleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.byUID[string(p.UID)]; e != nil {
		e.deleted = w.now()
	}
}

// sweep forgets pods deleted more than cleanup_timeout ago.
func (w *Watcher) sweep(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for uid, e := range w.byUID {
		if !e.deleted.IsZero() && now.Sub(e.deleted) >= w.cleanup {
			delete(w.byUID, uid)
			if w.byName[e.ns+"/"+e.name] == e {
				delete(w.byName, e.ns+"/"+e.name)
			}
		}
	}
}

// annotations keeps the configured annotations (all but kubectl's
// last-applied-configuration when none are listed).
func (w *Watcher) annotations(a map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		if len(w.include) == 0 && k != lastApplied || slices.Contains(w.include, k) {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
