package manifests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
)

// TestAppTeamRoles: the roles aggregated into view and edit let an app team create and watch
// orders and refunds, and nothing more: not provider accounts, not status, not Secrets. The
// aggregation itself is kube-controller-manager's work, which envtest does not run, so the test
// binds the two roles directly (as aggregation would grant them) and checks their labels.
func TestAppTeamRoles(t *testing.T) {
	env := testenv.Start(t)
	ns := env.Namespace(t)
	for _, file := range []string{"payments_viewer_role.yaml", "payments_editor_role.yaml"} {
		raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", file))
		if err != nil {
			t.Fatal(err)
		}
		role := &rbacv1.ClusterRole{}
		if err := yaml.Unmarshal(raw, role); err != nil {
			t.Fatal(err)
		}
		if role.Labels["rbac.authorization.k8s.io/aggregate-to-edit"] != "true" {
			t.Errorf("%s is not aggregated into edit", file)
		}
		if strings.Contains(file, "viewer") && role.Labels["rbac.authorization.k8s.io/aggregate-to-view"] != "true" {
			t.Errorf("%s is not aggregated into view", file)
		}
		if err := env.Client.Create(t.Context(), role); err != nil {
			t.Fatal(err)
		}
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: role.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "app-team"}},
		}
		if err := env.Client.Create(t.Context(), binding); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "app-team"}
	app, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	order := &v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-order"}, Spec: v1.PaymentOrderSpec{
		ProviderRef: v1.ProviderReference{Name: "sandbox"}, Amount: "1.00", Currency: "CNY", Channel: "sandbox", Subject: "team"}}
	refund := &v1.PaymentRefund{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-refund"}, Spec: v1.PaymentRefundSpec{
		OrderRef: v1.LocalObjectReference{Name: "team-order"}, Amount: "1.00"}}
	provider := &v1.PaymentProvider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-provider"}, Spec: v1.PaymentProviderSpec{
		Type: v1.ProviderSandbox, CredentialsSecretRef: v1.LocalObjectReference{Name: "x"}}}
	tests := []struct {
		name    string
		why     string
		do      func() error
		allowed bool
	}{
		{"create an order", "taking payments is the app team's job", func() error { return app.Create(t.Context(), order) }, true},
		{"watch orders", "apps watch their orders' status", func() error { return app.List(t.Context(), &v1.PaymentOrderList{}, client.InNamespace(ns)) }, true},
		{"create a refund", "giving money back is the app team's job too", func() error { return app.Create(t.Context(), refund) }, true},
		{"read providers", "an app team sees which accounts it can use", func() error { return app.List(t.Context(), &v1.PaymentProviderList{}, client.InNamespace(ns)) }, true},
		{"create a provider", "merchant accounts stay with whoever holds their credentials", func() error { return app.Create(t.Context(), provider) }, false},
		{"write order status", "status is kubepay's alone: an app writing Paid would be a forged payment", func() error {
			o := &v1.PaymentOrder{}
			if err := app.Get(t.Context(), client.ObjectKeyFromObject(order), o); err != nil {
				return err
			}
			o.Status.Phase = v1.PhasePaid
			return app.Status().Update(t.Context(), o)
		}, false},
		{"read Secrets", "provider credentials are never part of these roles", func() error { return app.List(t.Context(), &corev1.SecretList{}, client.InNamespace(ns)) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if tt.allowed && err != nil {
				t.Fatalf("%s: refused: %v", tt.why, err)
			}
			if !tt.allowed && !apierrors.IsForbidden(err) {
				t.Fatalf("%s: want Forbidden, got %v", tt.why, err)
			}
		})
	}
}
