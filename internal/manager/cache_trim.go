package manager

import (
	"k8s.io/apimachinery/pkg/api/meta"
)

// lastApplied is kubectl's copy of the whole object as last applied: as big as the object, read by
// nobody in kubepay.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// trimForCache drops what kubepay never reads from every cached object: managed fields and
// kubectl's last-applied copy. Only metadata goes: status writes send status from these objects,
// so nothing they carry back may be trimmed.
func trimForCache(in any) (any, error) {
	if obj, err := meta.Accessor(in); err == nil {
		obj.SetManagedFields(nil)
		if ann := obj.GetAnnotations(); ann[lastApplied] != "" {
			trimmed := make(map[string]string, len(ann)-1)
			for k, v := range ann {
				if k != lastApplied {
					trimmed[k] = v
				}
			}
			obj.SetAnnotations(trimmed)
		}
	}
	return in, nil
}
