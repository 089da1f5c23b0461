// Package argocd_test runs the Argo CD health checks in docs/argocd/kubepay.io/<Kind>/health.lua
// the way Argo CD does: in gopher-lua, with only the base, package and table libraries open, the
// object as the global obj, and the table the script returns read as its health. Objects are
// built from the API types, most of them with the status kubepay writes (internal/settle computes
// the kstatus conditions), so a renamed field or a changed condition shows here.
package argocd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// The health codes Argo CD accepts from a script; anything else it shows as Unknown.
var validHealth = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

// kinds are the kinds a script is shipped for.
var kinds = []string{"PaymentOrder", "PaymentRefund", "PaymentProvider", "ClusterPaymentProvider"}

func scriptPath(kind string) string {
	return filepath.Join(v1.GroupVersion.Group, kind, "health.lua")
}

func readScript(t *testing.T, kind string) string {
	t.Helper()
	b, err := os.ReadFile(scriptPath(kind))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// health is what a script returned: hs.status and hs.message.
type health struct{ status, message string }

// runScript runs script on obj as Argo CD runs a health check from argocd-cm: no standard
// libraries but package, base and table (Argo CD adds a reduced os library, which these scripts
// do not use), a one-second deadline, and the returned table read as the health.
func runScript(t *testing.T, script string, obj map[string]any) health {
	t.Helper()
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			t.Fatalf("opening Lua library %q: %v", lib.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(t, l, obj))
	if err := l.DoString(script); err != nil {
		t.Fatalf("the script failed: %v", err)
	}
	hs, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the script returned %s, not a table", l.Get(-1).Type())
	}
	st, ok := hs.RawGetString("status").(lua.LString)
	if !ok || !validHealth[string(st)] {
		t.Fatalf("hs.status is %v, which Argo CD turns into Unknown", hs.RawGetString("status"))
	}
	msg, ok := hs.RawGetString("message").(lua.LString)
	if !ok || msg == "" {
		t.Fatalf("hs.message is %v: every verdict should say why", hs.RawGetString("message"))
	}
	return health{string(st), string(msg)}
}

// toLua turns an unstructured object into Lua values the way Argo CD hands it to a script: maps
// and lists become tables, numbers (int64 from the API server's JSON) become Lua numbers.
func toLua(t *testing.T, l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		tbl := l.CreateTable(len(v), 0)
		for _, item := range v {
			tbl.Append(toLua(t, l, item))
		}
		return tbl
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetString(key, toLua(t, l, item))
		}
		return tbl
	}
	t.Fatalf("no Lua value for %T", v)
	return lua.LNil
}

// argoOf is the Argo CD health that matches a kstatus verdict.
var argoOf = map[status.Status]string{
	status.CurrentStatus: "Healthy", status.InProgressStatus: "Progressing", status.FailedStatus: "Degraded",
}

// healthCase is one object and the health its script must give it.
type healthCase struct {
	name string
	// why is the reason the object has that health.
	why string
	obj map[string]any
	// want is the Argo CD health; message a part of hs.message.
	want, message string
	// sameAsKstatus: kstatus (Flux, `kubectl wait`, Argo CD's kstatus-aware tools) reads the
	// object the same way.
	sameAsKstatus bool
}

func runCases(t *testing.T, kind string, cases []healthCase) {
	t.Helper()
	script := readScript(t, kind)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := runScript(t, script, tc.obj)
			if got.status != tc.want {
				t.Errorf("%s: health %s (%q), want %s", tc.why, got.status, got.message, tc.want)
			}
			if !strings.Contains(got.message, tc.message) {
				t.Errorf("%s: message %q, want it to contain %q", tc.why, got.message, tc.message)
			}
			if tc.sameAsKstatus {
				res, err := status.Compute(&unstructured.Unstructured{Object: tc.obj})
				if err != nil {
					t.Fatal(err)
				}
				if argoOf[res.Status] != got.status {
					t.Errorf("%s: kstatus says %s (%s), the script %s", tc.why, res.Status, res.Message, got.status)
				}
			}
		})
	}
}

var now = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// generation is the objects' metadata.generation.
const generation = 3

func cond(typ string, st metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: message, LastTransitionTime: metav1.NewTime(now)}
}

func ready(st metav1.ConditionStatus, reason, message string) metav1.Condition {
	return cond(v1.ConditionReady, st, reason, message)
}

func conds(c ...metav1.Condition) []metav1.Condition { return c }

func unstructuredOf(t *testing.T, obj runtime.Object, kind string) map[string]any {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	m["apiVersion"] = v1.GroupVersion.String()
	m["kind"] = kind
	return m
}

// without removes path (dotted) from obj: a field the API server would not return.
func without(obj map[string]any, path string) map[string]any {
	keys := strings.Split(path, ".")
	m := obj
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			return obj
		}
		m = next
	}
	delete(m, keys[len(keys)-1])
	return obj
}

// with sets path (dotted) in obj to value.
func with(obj map[string]any, path string, value any) map[string]any {
	keys := strings.Split(path, ".")
	m := obj
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = value
	return obj
}

// TestScriptsUseOnlyWhatArgoCDOpens: a script that used the string or math library, or a global
// Argo CD does not set, would fail in Argo CD; each script runs on the emptiest object there is.
func TestScriptsUseOnlyWhatArgoCDOpens(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			got := runScript(t, readScript(t, kind), map[string]any{"apiVersion": v1.GroupVersion.String(), "kind": kind, "metadata": map[string]any{"name": "x"}})
			if got.status != "Progressing" {
				t.Errorf("an object kubepay has not seen yet is %s (%q), want Progressing", got.status, got.message)
			}
		})
	}
}

// TestClusterPaymentProviderScriptIsPaymentProviders: both kinds have the same status, so they
// share one script; two copies must not drift apart.
func TestClusterPaymentProviderScriptIsPaymentProviders(t *testing.T) {
	if readScript(t, "ClusterPaymentProvider") != readScript(t, "PaymentProvider") {
		t.Errorf("%s differs from %s; they must be the same script", scriptPath("ClusterPaymentProvider"), scriptPath("PaymentProvider"))
	}
}

// healthKeyPrefix starts the argocd-cm key of a kubepay health check.
const healthKeyPrefix = "resource.customizations.health.kubepay.io_"

// healthKeys collects the kubepay health-check keys anywhere in a parsed YAML document (a
// ConfigMap's data, a Helm chart's configs.cm, ...).
func healthKeys(v any, found map[string]any) {
	switch v := v.(type) {
	case map[string]any:
		for key, item := range v {
			if strings.HasPrefix(key, healthKeyPrefix) {
				found[strings.TrimPrefix(key, healthKeyPrefix)] = item
				continue
			}
			healthKeys(item, found)
		}
	case []any:
		for _, item := range v {
			healthKeys(item, found)
		}
	}
}

// yamlBlocks are the ```yaml fenced blocks of a Markdown text.
func yamlBlocks(markdown string) []string {
	var blocks []string
	var cur []string
	in := false
	for line := range strings.SplitSeq(markdown, "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```yaml":
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

// TestSnippetsAreTheScripts: the argocd-cm snippets people copy (README.md's and argocd-cm.yaml)
// carry exactly the shipped scripts, for every kind, so neither can drift from what is tested.
func TestSnippetsAreTheScripts(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	cm, err := os.ReadFile("argocd-cm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	snippets := map[string]string{"argocd-cm.yaml": string(cm)}
	for i, block := range yamlBlocks(string(readme)) {
		snippets[fmt.Sprintf("README.md yaml block %d", i+1)] = block
	}
	withKeys := 0
	for where, text := range snippets {
		var doc any
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
			t.Errorf("%s does not parse as YAML: %v", where, err)
			continue
		}
		found := map[string]any{}
		healthKeys(doc, found)
		if len(found) == 0 {
			continue
		}
		withKeys++
		for _, kind := range kinds {
			got, ok := found[kind]
			switch {
			case !ok:
				t.Errorf("%s has no %s%s", where, healthKeyPrefix, kind)
			case got != readScript(t, kind):
				t.Errorf("%s: %s%s is not %s; copy the script into it (indented four spaces)", where, healthKeyPrefix, kind, scriptPath(kind))
			}
			delete(found, kind)
		}
		for kind := range found {
			t.Errorf("%s has %s%s, for which no script is shipped", where, healthKeyPrefix, kind)
		}
	}
	if withKeys < 2 {
		t.Errorf("found the health-check keys in %d snippet(s), want argocd-cm.yaml and README.md's", withKeys)
	}
}
