package stripe_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// recorder is a reverse proxy in front of stripe-mock that records every request, so tests can
// assert what the client sent (headers, form bodies), and can answer chosen requests itself with
// canned Stripe answers (states and errors stripe-mock, which keeps no state, cannot produce).
type recorder struct {
	URL string

	mu     sync.Mutex
	reqs   []recorded
	canned map[string][]canned
}

type recorded struct {
	Method, Path string
	Header       http.Header
	Body         []byte
	Form         url.Values
}

type canned struct {
	status int
	body   string
}

// newRecorder starts a recorder in front of upstream ("" answers only canned requests).
func newRecorder(t testing.TB, upstream string) *recorder {
	t.Helper()
	rec := &recorder{canned: map[string][]canned{}}
	proxy := http.NotFoundHandler()
	if upstream != "" {
		u, err := url.Parse(upstream)
		if err != nil {
			t.Fatal(err)
		}
		proxy = httputil.NewSingleHostReverseProxy(u)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if r.Method == http.MethodGet {
			form = r.URL.Query()
		}
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Form: form})
		c, ok := rec.next(r.Method + " " + r.URL.Path)
		rec.mu.Unlock()
		if ok {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Request-Id", "req_canned")
			w.WriteHeader(c.status)
			_, _ = io.WriteString(w, c.body)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

// answer makes the recorder answer method+path itself.
func (rec *recorder) answer(method, path string, status int, body string) {
	rec.answers(method, path, canned{status, body})
}

// answers makes the recorder answer method+path with each answer in turn, the last one for good.
func (rec *recorder) answers(method, path string, answers ...canned) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.canned[method+" "+path] = answers
}

// next takes the canned answer for key; the caller holds mu.
func (rec *recorder) next(key string) (canned, bool) {
	list := rec.canned[key]
	if len(list) == 0 {
		return canned{}, false
	}
	if len(list) > 1 {
		rec.canned[key] = list[1:]
	}
	return list[0], true
}

// requests returns the recorded requests with method and path.
func (rec *recorder) requests(method, path string) []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []recorded
	for _, r := range rec.reqs {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// all returns every recorded request as "METHOD path" lines.
func (rec *recorder) all() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make([]string, 0, len(rec.reqs))
	for _, r := range rec.reqs {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// stripeError is a Stripe API error body.
func stripeError(typ, code, msg string) string {
	if code == "" {
		return fmt.Sprintf(`{"error":{"type":%q,"message":%q}}`, typ, msg)
	}
	return fmt.Sprintf(`{"error":{"type":%q,"code":%q,"message":%q}}`, typ, code, msg)
}

// sessionJSON is a Checkout Session answer in the given state.
func sessionJSON(id, outTradeNo, status, paymentStatus string, amount int64, currency string) string {
	return fmt.Sprintf(`{"id":%q,"object":"checkout.session","mode":"payment","client_reference_id":%q,"status":%q,"payment_status":%q,"amount_total":%d,"currency":%q,"url":"https://checkout.stripe.com/c/pay/%s"}`,
		id, outTradeNo, status, paymentStatus, amount, currency, id)
}
