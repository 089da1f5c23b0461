// Package shard is one install's share of a cluster: the namespaces it watches and a label
// selector on kubepay's objects. Several kubepay installs split a cluster by giving each its
// share; everything an install reads (its cache, and the reads around it) stays inside it, so no
// install touches another's orders. The zero Share is the whole cluster.
package shard

import (
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Share is the part of the cluster one install serves.
type Share struct {
	// Namespaces are the namespaces served; empty means all.
	Namespaces []string
	// Selector selects the kubepay objects served; nil means all.
	Selector labels.Selector
}

// Whole reports whether the share is the whole cluster.
func (s Share) Whole() bool {
	return len(s.Namespaces) == 0 && (s.Selector == nil || s.Selector.Empty())
}

// HasNamespace reports whether namespace is served ("" — cluster-scoped — always is).
func (s Share) HasNamespace(namespace string) bool {
	if len(s.Namespaces) == 0 || namespace == "" {
		return true
	}
	for _, ns := range s.Namespaces {
		if ns == namespace {
			return true
		}
	}
	return false
}

// Has reports whether an object is in the share.
func (s Share) Has(obj client.Object) bool {
	if !s.HasNamespace(obj.GetNamespace()) {
		return false
	}
	return s.Selector == nil || s.Selector.Matches(labels.Set(obj.GetLabels()))
}

// ListOptions restricts a list outside the cache to the share's selector (namespaces are
// filtered with Has: one list call takes one namespace).
func (s Share) ListOptions() []client.ListOption {
	if s.Selector == nil || s.Selector.Empty() {
		return nil
	}
	return []client.ListOption{client.MatchingLabelsSelector{Selector: s.Selector}}
}
