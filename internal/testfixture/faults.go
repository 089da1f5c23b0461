// Package testfixture is what the envtest suites share: a manager started on the test control
// plane, a fault-injecting client, and per-test fixtures (namespace, sandbox gateway, provider,
// orders).
package testfixture

import (
	"context"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Faults fails chosen status writes, as a killed manager or an overloaded API server would.
type Faults struct {
	mu   sync.Mutex
	fail map[string]fault // "namespace/name" -> writes still to fail
}

type fault struct {
	n        int
	conflict bool
}

// FailStatusWrites makes the next n status writes of the object fail with a plain error (the
// write is lost, like a crash between the provider call and the write).
func (f *Faults) FailStatusWrites(key client.ObjectKey, n int) { f.arm(key, fault{n: n}) }

// ConflictStatusWrites makes the next n status writes of the object fail with 409 Conflict.
func (f *Faults) ConflictStatusWrites(key client.ObjectKey, n int) {
	f.arm(key, fault{n: n, conflict: true})
}

// Pending returns how many armed faults of the object have not fired yet.
func (f *Faults) Pending(key client.ObjectKey) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail[key.String()].n
}

func (f *Faults) arm(key client.ObjectKey, ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		f.fail = map[string]fault{}
	}
	f.fail[key.String()] = ft
}

func (f *Faults) take(key string) (fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ft := f.fail[key]
	if ft.n <= 0 {
		return ft, false
	}
	ft.n--
	f.fail[key] = ft
	return ft, true
}

// Wrap wraps a client so its status writes obey the armed faults.
func (f *Faults) Wrap(c client.Client) client.Client { return faultyClient{Client: c, f: f} }

type faultyClient struct {
	client.Client
	f *Faults
}

func (c faultyClient) Status() client.SubResourceWriter {
	return faultyStatus{SubResourceWriter: c.Client.Status(), f: c.f}
}

type faultyStatus struct {
	client.SubResourceWriter
	f *Faults
}

func (s faultyStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	key := client.ObjectKeyFromObject(obj)
	if ft, ok := s.f.take(key.String()); ok {
		if ft.conflict {
			return apierrors.NewConflict(schema.GroupResource{Group: "kubepay.io", Resource: "paymentorders"}, key.Name, fmt.Errorf("injected conflict"))
		}
		return fmt.Errorf("injected fault: status write of %s lost", key)
	}
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}
