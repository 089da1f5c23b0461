package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// apiProxy stands between the manager and the API server and names every request the manager
// makes: the manager runs as its own process (what ships), so its rest.Config cannot be wrapped
// from here, but its kubeconfig can point at this loopback proxy, which forwards each request
// with the manager's own credentials. It serves TLS with HTTP/2, as the API server does, so the
// manager's client multiplexes its requests over one connection exactly as it would there. Writes are named by what they do (a PATCH of a
// PaymentOrder that adds the finalizer is not the one that labels it settled), reads by verb and
// resource. The manager's own client-go metrics (rest_client_requests_total) count the same
// requests by method; the bench checks that both agree.
type apiProxy struct {
	addr   string
	caPEM  []byte
	srv    *http.Server
	mu     sync.Mutex
	counts map[string]float64
	// millis sums, per name, the time from forwarding the request to the response's headers.
	millis map[string]float64
	last   time.Time
}

type nameKey struct{}

// requestInfo is what the proxy remembers of a request until its answer.
type requestInfo struct {
	name  string
	start time.Time
}

// startAPIProxy serves on a free loopback address and forwards to cfg's API server as cfg's user.
func startAPIProxy(addr string, cfg *rest.Config) (*apiProxy, error) {
	host := cfg.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	target, err := url.Parse(host)
	if err != nil {
		return nil, err
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	p := &apiProxy{addr: addr, counts: map[string]float64{}, millis: map[string]float64{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
		},
		Transport:     rt,
		FlushInterval: -1, // watches stream event by event
		ModifyResponse: func(resp *http.Response) error {
			p.record(resp.Request.Context(), resp.StatusCode)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.record(r.Context(), 0)
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil && r.Method != http.MethodGet {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		info := &requestInfo{name: requestName(r, body), start: time.Now()}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), nameKey{}, info)))
	})}
	go func() { _ = p.srv.ServeTLS(ln, "", "") }()
	return p, nil
}

// selfSigned is a certificate for 127.0.0.1, valid for a day.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubepay-bench-proxy"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func (p *apiProxy) close() {
	if p != nil && p.srv != nil {
		_ = p.srv.Close()
	}
}

// kubeconfig points a client at the proxy; the proxy holds the credentials.
func (p *apiProxy) kubeconfig() []byte {
	return []byte(`apiVersion: v1
kind: Config
clusters: [{name: bench, cluster: {server: "https://` + p.addr + `", certificate-authority-data: "` + base64.StdEncoding.EncodeToString(p.caPEM) + `"}}]
users: [{name: bench, user: {}}]
contexts: [{name: bench, context: {cluster: bench, user: bench}}]
current-context: bench
`)
}

func (p *apiProxy) record(ctx context.Context, code int) {
	info, _ := ctx.Value(nameKey{}).(*requestInfo)
	if info == nil {
		return
	}
	name := info.name
	if code < 200 || code > 299 {
		name = fmt.Sprintf("%s [HTTP %d]", name, code)
	}
	now := time.Now()
	p.mu.Lock()
	p.counts[name]++
	p.millis[name] += float64(now.Sub(info.start)) / float64(time.Millisecond)
	p.last = now
	p.mu.Unlock()
}

// snapshot is a copy of the counts so far, and of the summed latencies.
func (p *apiProxy) snapshot() (counts, millis map[string]float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.counts), maps.Clone(p.millis)
}

// meanMillis is, per write name that moved between two snapshots, its mean latency.
func meanMillis(countsBefore, millisBefore, countsAfter, millisAfter map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, n := range countsAfter {
		if d := n - countsBefore[k]; d > 0 && !isRead(k) {
			out[k] = round((millisAfter[k] - millisBefore[k]) / d)
		}
	}
	return out
}

// quiet waits until the manager made no request for d (Events are sent asynchronously), at most
// max.
func (p *apiProxy) quiet(ctx context.Context, d, maxWait time.Duration) {
	deadline := time.Now().Add(maxWait)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		idle := time.Since(p.last)
		p.mu.Unlock()
		if idle >= d {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d - idle):
		}
	}
}

// perOrder is (after - before) / n for every name that moved, rounded.
func perOrder(before, after map[string]float64, n int) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = float64(int64(d/float64(n)*1000+0.5)) / 1000
		}
	}
	return out
}

// writesOnly splits named counts into writes and reads (names start with the HTTP verb they
// describe, reads with GET/LIST/WATCH).
func writesOnly(m map[string]float64) (writes map[string]float64, total float64) {
	writes = map[string]float64{}
	for k, v := range m {
		if isRead(k) {
			continue
		}
		writes[k] = v
		total += v
	}
	return writes, round(total)
}

func readsOnly(m map[string]float64) map[string]float64 {
	reads := map[string]float64{}
	for k, v := range m {
		if isRead(k) {
			reads[k] = v
		}
	}
	return reads
}

func isRead(name string) bool {
	return strings.HasPrefix(name, "GET ") || strings.HasPrefix(name, "LIST ") || strings.HasPrefix(name, "WATCH ")
}

// byMethod sums named counts back to HTTP methods, to compare with the manager's own metric.
func byMethod(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		method, _, _ := strings.Cut(k, " ")
		switch method {
		case "LIST", "WATCH":
			method = "GET"
		}
		out[method] += v
	}
	return out
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// apiPath is a request path taken apart: /api/v1/... or /apis/<group>/<version>/..., then
// [namespaces/<ns>/]<resource>[/<name>[/<subresource>]].
type apiPath struct{ resource, name, sub string }

func parseAPIPath(path string) (apiPath, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(segs) >= 2 && segs[0] == "api":
		segs = segs[2:]
	case len(segs) >= 3 && segs[0] == "apis":
		segs = segs[3:]
	default:
		return apiPath{}, false
	}
	if len(segs) >= 3 && segs[0] == "namespaces" {
		segs = segs[2:]
	}
	var p apiPath
	for i, s := range segs {
		switch i {
		case 0:
			p.resource = s
		case 1:
			p.name = s
		case 2:
			p.sub = s
		}
	}
	return p, p.resource != ""
}

// requestName names one request of the manager.
func requestName(r *http.Request, body []byte) string {
	p, ok := parseAPIPath(r.URL.Path)
	if !ok {
		return "GET " + r.URL.Path // discovery, /version
	}
	res := p.resource
	if p.sub != "" {
		res += "/" + p.sub
	}
	switch r.Method {
	case http.MethodGet:
		switch {
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			return "WATCH " + res
		case p.name == "":
			return "LIST " + res
		}
		return "GET " + res
	case http.MethodPost:
		switch p.resource {
		case "leases":
			if bytes.Contains(body, []byte("kubepay-otn-")) {
				return "POST claim Lease (out_trade_no)"
			}
			if bytes.Contains(body, []byte("kubepay-orn-")) {
				return "POST claim Lease (out_refund_no)"
			}
		case "events":
			return "POST Event " + eventKind(body)
		}
	case http.MethodPatch:
		if p.resource == "paymentorders" && p.sub == "" {
			return "PATCH PaymentOrder " + orderPatchKind(body)
		}
	case http.MethodPut:
		if p.resource == "paymentorders" && p.sub == "status" {
			return "PUT PaymentOrder status"
		}
	}
	return r.Method + " " + res
}

// eventKind is an Event's type and action, e.g. "(Normal Transition)", decoded whatever the
// client's content type (JSON or protobuf).
func eventKind(body []byte) string {
	obj, _, err := clientscheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
	if err != nil {
		return "(undecoded)"
	}
	switch e := obj.(type) {
	case *eventsv1.Event:
		return "(" + e.Type + " " + e.Action + ")"
	case *corev1.Event:
		return "(" + e.Type + " " + e.Action + ")"
	}
	return "(" + fmt.Sprintf("%T", obj) + ")"
}

// orderPatchKind says what a metadata patch of a PaymentOrder does.
func orderPatchKind(body []byte) string {
	// A patch that removes the last finalizer sets it to null: look for the key, not a value.
	var patch struct {
		Metadata map[string]json.RawMessage `json:"metadata"`
	}
	_ = json.Unmarshal(body, &patch)
	if _, ok := patch.Metadata["finalizers"]; ok {
		return "finalizer"
	}
	return "(other)"
}
