package controllers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

// queryGateway reads a payment from the gateway's API as a merchant would.
func queryGateway(t *testing.T, f *testfixture.Fixture, id string) map[string]any {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.URL+"/v1/payments/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+gatewaytest.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET payment %s: HTTP %d, %v", id, resp.StatusCode, err)
	}
	return out
}

// waitEvent waits for a Kubernetes Event with reason about the named object.
func waitEvent(t *testing.T, ns, name, reason string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		list := &eventsv1.EventList{}
		if err := env.Client.List(t.Context(), list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Reason == reason {
				return true, ""
			}
			seen = append(seen, e.Regarding.Name+":"+e.Reason)
		}
		return false, fmt.Sprintf("no %s Event for %s; events: %v", reason, name, seen)
	})
}
