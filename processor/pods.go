package processor

// Pod is the metadata of a pod that add_kubernetes_metadata adds. A *Pod is
// never modified once a PodLookup has returned it: a change makes a new one.
type Pod struct {
	UID, Node   string
	Labels      map[string]string
	Annotations map[string]string
}

// PodLookup finds a pod by UID or, when the UID is empty (paths under
// /var/log/containers carry none), by namespace and name. It returns nil
// for a pod it does not know. Safe for concurrent use.
type PodLookup interface {
	Pod(namespace, name, uid string) *Pod
}
