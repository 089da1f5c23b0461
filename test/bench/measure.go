package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/sandbox"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// managerHeap forces a GC in the manager (pprof heap with gc=1) and reads its in-use heap.
func managerHeap() (int64, error) {
	if _, err := httpGet("http://" + pprofAddr + "/debug/pprof/heap?gc=1"); err != nil {
		return 0, fmt.Errorf("forcing a GC in the manager: %w", err)
	}
	v, err := scrape("go_memstats_heap_inuse_bytes")
	return int64(v), err
}

// scrape reads one unlabelled metric from the manager's metrics endpoint.
func scrape(name string) (float64, error) {
	raw, err := httpGet("http://" + metricsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	s := bufio.NewScanner(bytes.NewReader(raw))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// apiCalls sums the manager's client requests to the API server by method, from its
// rest_client_requests_total metric: the cost of kubepay's work in API calls.
func apiCalls() map[string]float64 {
	raw, err := httpGet("http://" + metricsAddr + "/metrics")
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	s := bufio.NewScanner(bytes.NewReader(raw))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, "rest_client_requests_total{") {
			continue
		}
		_, labels, _ := strings.Cut(line, "{")
		labels, value, _ := strings.Cut(labels, "} ")
		method := ""
		for _, kv := range strings.Split(labels, ",") {
			if v, ok := strings.CutPrefix(kv, "method="); ok {
				method = strings.Trim(v, `"`)
			}
		}
		v, _ := strconv.ParseFloat(value, 64)
		out[method] += v
	}
	return out
}

// verifyMicros is the sandbox client's per-notification verification cost (RSA-2048 verify plus
// parsing), measured with the testing package's benchmark loop.
func verifyMicros() float64 {
	pub, _ := httpGet("http://" + gatewayAddr + "/v1/public-key")
	p, err := providers.New(sandbox.Type, providers.Config{Endpoint: "http://" + gatewayAddr,
		Secret: map[string][]byte{"apiKey": []byte(benchAPIKey), "publicKey": pub}})
	if err != nil {
		return -1
	}
	body := []byte(`{"id":"evt_verify","type":"payment.succeeded","created":1,"data":{"id":"pay_1","out_trade_no":"X","status":"succeeded","amount":1000,"currency":"CNY"}}`)
	sig := gateway.SignPayload(signingKey, time.Now(), body)
	r := testing.Benchmark(func(b *testing.B) {
		req, _ := http.NewRequest(http.MethodPost, "http://x/notify", nil)
		req.Header.Set(gateway.SignatureHeader, sig)
		for b.Loop() {
			if _, err := p.ParseNotification(b.Context(), req, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	return round(float64(r.NsPerOp()) / 1000)
}
