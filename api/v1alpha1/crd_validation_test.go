package v1alpha1_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	if testfixture.Short() {
		os.Exit(m.Run())
	}
	e, err := testenv.StartE()
	if err != nil {
		panic(err)
	}
	env = e
	code := m.Run()
	_ = e.Env.Stop()
	os.Exit(code)
}

func validOrder(ns, name string) *v1.PaymentOrder {
	return &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.PaymentOrderSpec{
			ProviderRef: v1.ProviderReference{Name: "sandbox"},
			Amount:      "10.00",
			Currency:    "CNY",
			Channel:     "sandbox",
			Subject:     "test order",
		},
	}
}

// TestSamplesAccepted applies every file of config/samples to the real API server.
func TestSamplesAccepted(t *testing.T) {
	ns := env.Namespace(t)
	dir := filepath.Join(testenv.RepoRoot(), "config", "samples")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in %s: %v", dir, err)
	}
	kinds := map[string]int{}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(raw), "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			u.SetNamespace(ns)
			if err := env.Client.Create(t.Context(), u); err != nil {
				t.Errorf("sample %s (%s %s) refused: %v", filepath.Base(f), u.GetKind(), u.GetName(), err)
			}
			kinds[u.GetKind()]++
		}
	}
	for _, k := range []string{"PaymentOrder", "PaymentProvider", "Secret"} {
		if kinds[k] == 0 {
			t.Errorf("config/samples has no %s", k)
		}
	}
}

// TestOrderCreateValidation: each bad spec is refused by the API server, with a message naming the field.
func TestOrderCreateValidation(t *testing.T) {
	ns := env.Namespace(t)
	tests := []struct {
		name      string
		mutate    func(*v1.PaymentOrder)
		wantField string // "" means the order must be accepted
	}{
		{"a valid order is accepted, so the refusals below are about their one change", func(*v1.PaymentOrder) {}, ""},
		{"zero is not an amount anyone can pay", func(o *v1.PaymentOrder) { o.Spec.Amount = "0" }, "spec.amount"},
		{"zero with decimals is still zero", func(o *v1.PaymentOrder) { o.Spec.Amount = "0.00" }, "spec.amount"},
		{"negative amounts are refused by the pattern", func(o *v1.PaymentOrder) { o.Spec.Amount = "-1" }, "spec.amount"},
		{"CNY has two decimals, a third would be silently rounded", func(o *v1.PaymentOrder) { o.Spec.Amount = "1.234" }, "spec.amount"},
		{"JPY has no minor unit", func(o *v1.PaymentOrder) { o.Spec.Amount = "1.5"; o.Spec.Currency = "JPY" }, "spec.amount"},
		{"KWD allows three decimals", func(o *v1.PaymentOrder) { o.Spec.Amount = "1.234"; o.Spec.Currency = "KWD" }, ""},
		{"exponent notation is not a decimal string", func(o *v1.PaymentOrder) { o.Spec.Amount = "1e3" }, "spec.amount"},
		{"currency codes are upper case", func(o *v1.PaymentOrder) { o.Spec.Currency = "cny" }, "spec.currency"},
		{"unknown channel", func(o *v1.PaymentOrder) { o.Spec.Channel = "bitcoin" }, "spec.channel"},
		{"orderID shorter than 6", func(o *v1.PaymentOrder) { o.Spec.OrderID = "abc" }, "spec.orderID"},
		{"orderID with characters providers refuse", func(o *v1.PaymentOrder) { o.Spec.OrderID = "order#1234" }, "spec.orderID"},
		{"returnURL must be http(s)", func(o *v1.PaymentOrder) { o.Spec.ReturnURL = "javascript:alert(1)" }, "spec.returnURL"},
		{"subject is required", func(o *v1.PaymentOrder) { o.Spec.Subject = "" }, "spec.subject"},
		// The currency table is ISO 4217 list one (internal/money/iso4217); these cases pin the
		// CRD's generated rules to it.
		{"ABC is three upper-case letters but no ISO 4217 code", currency("ABC", "1.00"), "spec.currency"},
		{"XAU (gold) has no minor unit in ISO 4217, so no amount in minor units exists", currency("XAU", "1"), "spec.currency"},
		{"XXX is ISO 4217's code for no currency", currency("XXX", "1"), "spec.currency"},
		{"BIF has no minor unit, so 1.50 would invent centimes", currency("BIF", "1.50"), "spec.amount"},
		{"BIF in whole francs is accepted", currency("BIF", "150"), ""},
		{"UYI, a fund code without minor unit, takes whole units only", currency("UYI", "1.5"), "spec.amount"},
		{"KWD refuses a fourth decimal", currency("KWD", "1.2345"), "spec.amount"},
		{"CNY with four decimals is refused: four are for four-decimal currencies only", currency("CNY", "1.2345"), "spec.amount"},
		{"CLF has four decimals in ISO 4217", currency("CLF", "1.2345"), ""},
		{"CLF refuses a fifth decimal", currency("CLF", "1.23456"), "spec.amount"},
		{"the largest four-decimal amount (14 integer digits) is accepted: its minor units fit in int64", currency("CLF", "99999999999999.9999"), ""},
		{"a 15th integer digit with four decimals would overflow int64 minor units", currency("CLF", "999999999999999.9999"), "spec.amount"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOrder(ns, fmt.Sprintf("order-%02d", i))
			tt.mutate(o)
			err := env.Client.Create(t.Context(), o)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("valid order refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("API server accepted amount=%q currency=%q channel=%q; want refusal naming %s", o.Spec.Amount, o.Spec.Currency, o.Spec.Channel, tt.wantField)
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.wantField) {
				t.Fatalf("refusal does not name %s: %v", tt.wantField, err)
			}
		})
	}
}

// currency sets the order's currency and amount.
func currency(code, amount string) func(*v1.PaymentOrder) {
	return func(o *v1.PaymentOrder) { o.Spec.Currency, o.Spec.Amount = code, amount }
}

func TestProviderTypeValidation(t *testing.T) {
	ns := env.Namespace(t)
	p := &v1.PaymentProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "paypal"},
		Spec:       v1.PaymentProviderSpec{Type: "paypal", CredentialsSecretRef: v1.LocalObjectReference{Name: "x"}},
	}
	err := env.Client.Create(t.Context(), p)
	if err == nil || !strings.Contains(err.Error(), "spec.type") {
		t.Fatalf("unknown provider type: want refusal naming spec.type, got %v", err)
	}
}

// TestOrderUpdateValidation: the transition rules hold on updates of spec and status.
func TestOrderUpdateValidation(t *testing.T) {
	ns := env.Namespace(t)
	ctx := t.Context()
	paidAt := metav1.NewTime(time.Now().Truncate(time.Second))

	create := func(t *testing.T, name string, status v1.PaymentOrderStatus) *v1.PaymentOrder {
		t.Helper()
		o := validOrder(ns, name)
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		o.Status = status
		if err := env.Client.Status().Update(ctx, o); err != nil {
			t.Fatalf("setting initial status %+v: %v", status, err)
		}
		return o
	}

	tests := []struct {
		name      string
		initial   v1.PaymentOrderStatus
		update    func(*v1.PaymentOrder) error
		wantField string
	}{
		{"spec is immutable: changing the amount after create would change a payment in flight",
			v1.PaymentOrderStatus{},
			func(o *v1.PaymentOrder) error { o.Spec.Amount = "20.00"; return env.Client.Update(ctx, o) },
			"spec"},
		{"Paid never goes back to AwaitingPayment",
			v1.PaymentOrderStatus{Phase: v1.PhasePaid, PaidAt: &paidAt},
			func(o *v1.PaymentOrder) error {
				o.Status.Phase = v1.PhaseAwaitingPayment
				return env.Client.Status().Update(ctx, o)
			},
			"status.phase"},
		{"Expired never becomes Paid: the payment was closed",
			v1.PaymentOrderStatus{Phase: v1.PhaseExpired},
			func(o *v1.PaymentOrder) error {
				o.Status.Phase = v1.PhasePaid
				return env.Client.Status().Update(ctx, o)
			},
			"status.phase"},
		{"a terminal phase cannot be cleared",
			v1.PaymentOrderStatus{Phase: v1.PhaseFailed},
			func(o *v1.PaymentOrder) error { o.Status.Phase = ""; return env.Client.Status().Update(ctx, o) },
			"status.phase"},
		{"paidAt never changes once set",
			v1.PaymentOrderStatus{Phase: v1.PhasePaid, PaidAt: &paidAt},
			func(o *v1.PaymentOrder) error {
				later := metav1.NewTime(paidAt.Add(time.Hour))
				o.Status.PaidAt = &later
				return env.Client.Status().Update(ctx, o)
			},
			"status.paidAt"},
		{"paidAt cannot be removed either",
			v1.PaymentOrderStatus{Phase: v1.PhasePaid, PaidAt: &paidAt},
			func(o *v1.PaymentOrder) error { o.Status.PaidAt = nil; return env.Client.Status().Update(ctx, o) },
			"status.paidAt"},
		{"Paid may move to Refunded (refunds are the one way out of Paid)",
			v1.PaymentOrderStatus{Phase: v1.PhasePaid, PaidAt: &paidAt},
			func(o *v1.PaymentOrder) error {
				o.Status.Phase = v1.PhaseRefunded
				return env.Client.Status().Update(ctx, o)
			},
			""},
		{"AwaitingPayment may become Paid",
			v1.PaymentOrderStatus{Phase: v1.PhaseAwaitingPayment},
			func(o *v1.PaymentOrder) error {
				o.Status.Phase = v1.PhasePaid
				o.Status.PaidAt = &paidAt
				return env.Client.Status().Update(ctx, o)
			},
			""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := create(t, "upd-"+string(rune('a'+i)), tt.initial)
			err := tt.update(o)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("allowed update refused: %v", err)
				}
				return
			}
			if err == nil || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.wantField) {
				t.Fatalf("want refusal naming %s, got %v", tt.wantField, err)
			}
			// The refused write changed nothing.
			got := &v1.PaymentOrder{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), got); err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != tt.initial.Phase || got.Spec.Amount != "10.00" {
				t.Fatalf("refused write left phase=%q amount=%q", got.Status.Phase, got.Spec.Amount)
			}
		})
	}
}

// TestKubectlPrinterColumns: `kubectl get paymentorders` (the kubectl hack/ built) shows the columns.
func TestKubectlPrinterColumns(t *testing.T) {
	ns := env.Namespace(t)
	o := validOrder(ns, "printed")
	o.Spec.OrderID = "PRINT-0001"
	if err := env.Client.Create(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	o.Status = v1.PaymentOrderStatus{Phase: v1.PhaseAwaitingPayment, OutTradeNo: "PRINT-0001", PaymentURL: "http://127.0.0.1/checkout/pay_1"}
	if err := env.Client.Status().Update(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	kubectl := env.AdminKubectl(t, "printer-test")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"get", "paymentorders", "-n", ns}, []string{"NAME", "ORDER", "AMOUNT", "CURRENCY", "PHASE", "PROVIDER", "AGE", "printed", "PRINT-0001", "10.00", "CNY", "AwaitingPayment", "sandbox"}},
		{[]string{"get", "pord", "-n", ns, "-o", "wide"}, []string{"URL", "http://127.0.0.1/checkout/pay_1"}},
		{[]string{"get", "payments", "-n", ns}, []string{"printed"}},
	} {
		stdout, stderr, err := kubectl.Run(tc.args...)
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", tc.args, err, readAll(stderr))
		}
		out := readAll(stdout)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("kubectl %v output lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
}

// TestCELCurrencyTablesMatchMoney keeps the CRD and the money package on one currency table: an
// order the API server accepts must be one the controller can convert to minor units, and a
// currency the controller knows must not be refused. hack/currencygen writes both from the ISO
// list (its own test catches stale generated files); this catches a CRD not regenerated since.
func TestCELCurrencyTablesMatchMoney(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "kubepay.io_paymentorders.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(raw, crd); err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, r := range crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].XValidations {
		rules = append(rules, r.Rule)
	}
	crdRules := strings.Join(rules, "\n")
	quoted := func(cs []string) string { return "['" + strings.Join(cs, "','") + "']" }
	for name, list := range map[string][]string{
		"known":         money.Currencies(),
		"zero-decimal":  money.ZeroDecimal,
		"three-decimal": money.ThreeDecimal,
		"four-decimal":  money.FourDecimal,
	} {
		if !strings.Contains(crdRules, quoted(list)) {
			t.Errorf("the CRD's CEL rules on spec do not list the %s currencies %s exactly as internal/money does; run `go generate ./internal/money` and `make manifests`", name, quoted(list))
		}
	}
}

func readAll(r io.Reader) string {
	var b bytes.Buffer
	_, _ = io.Copy(&b, r)
	return b.String()
}
