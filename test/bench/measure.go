package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/localrun"
	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/sandbox"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// managerHeap forces a GC in the manager and reads its heap right after, from the pprof heap
// endpoint (gc=1, debug=1: the profile in text, followed by the runtime's MemStats read after the
// GC): the live objects (HeapAlloc, what pprof's inuse_space samples) and the spans holding them
// (HeapInuse, which adds fragmentation). The profile is kept as bin/bench/heap-<name>.pprof for
// `go tool pprof`.
func (b *bench) managerHeap(name string) (live, spans int64, err error) {
	profile, err := localrun.Get("http://" + b.addrs.pprof + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return 0, 0, fmt.Errorf("forcing a GC in the manager: %w", err)
	}
	_ = os.WriteFile(filepath.Join(b.dir, "heap-"+name+".pprof"), profile, 0o644)
	if live, err = memStat(profile, "HeapAlloc"); err != nil {
		return 0, 0, err
	}
	spans, err = memStat(profile, "HeapInuse")
	return live, spans, err
}

// memStat reads "# name = value" from a debug=1 heap profile.
func memStat(profile []byte, name string) (int64, error) {
	s := bufio.NewScanner(bytes.NewReader(profile))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "# "+name+" = "); ok {
			return strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in the heap profile", name)
}

func metricValue(raw []byte, name string) (float64, error) {
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
// rest_client_requests_total metric: the manager's own count of what the proxy names.
func (b *bench) apiCalls() map[string]float64 {
	raw, err := localrun.Get("http://" + b.addrs.metrics + "/metrics")
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

// countSettled counts the settled orders (ns "": every namespace), reading metadata only.
func (b *bench) countSettled(ctx context.Context, ns string) (int, error) {
	n := 0
	opts := []client.ListOption{client.MatchingFields{v1.FieldSettled: "true"}, client.Limit(5000)}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	for {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(v1.GroupVersion.WithKind("PaymentOrderList"))
		if err := b.env.Client.List(ctx, list, opts...); err != nil {
			return 0, err
		}
		n += len(list.Items)
		if list.Continue == "" {
			return n, nil
		}
		opts = append(opts, client.Continue(list.Continue))
	}
}

// verifyMicros is the sandbox client's per-notification verification cost (RSA-2048 verify plus
// parsing), measured with the testing package's benchmark loop.
func (b *bench) verifyMicros() float64 {
	pub, _ := localrun.Get("http://" + b.addrs.gateway + "/v1/public-key")
	p, err := providers.New(sandbox.Type, providers.Config{Endpoint: "http://" + b.addrs.gateway,
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

// profileCPU, with -cpu-profile, records CPU profiles of the manager and of the API server for
// the next profileSeconds (bin/bench/cpu-<name>-{manager,apiserver}.pprof); the returned func
// waits for them.
func (b *bench) profileCPU(ctx context.Context, name string) func() {
	if !b.opts.cpuProfile {
		return func() {}
	}
	const profileSeconds = "10"
	var wg sync.WaitGroup
	save := func(who string, get func() ([]byte, error)) {
		wg.Go(func() {
			if raw, err := get(); err == nil {
				_ = os.WriteFile(filepath.Join(b.dir, "cpu-"+name+"-"+who+".pprof"), raw, 0o644)
			} else {
				fmt.Printf("  CPU profile of the %s: %v\n", who, err)
			}
		})
	}
	save("manager", func() ([]byte, error) {
		return localrun.Get("http://" + b.addrs.pprof + "/debug/pprof/profile?seconds=" + profileSeconds)
	})
	save("apiserver", func() ([]byte, error) { return b.apiserverGet(ctx, "/debug/pprof/profile?seconds="+profileSeconds) })
	return wg.Wait
}

// cpuSeconds reads the CPU time used so far by the API server, etcd and, when it runs, the
// manager (process_cpu_seconds_total of each), and by the bench itself (its load generator, the
// counting proxy and its watch: the harness, which shares the machine's cores with what it
// measures). Differences per operation are what each costs in CPU: unlike throughput, barely
// moved by what else runs on the machine.
func (b *bench) cpuSeconds(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		out[harness] = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	if raw, err := b.apiserverGet(ctx, "/metrics"); err == nil {
		if v, err := metricValue(raw, "process_cpu_seconds_total"); err == nil {
			out["apiserver"] = v
		}
	}
	if v, err := b.etcd().metric("process_cpu_seconds_total"); err == nil {
		out["etcd"] = v
	}
	if b.manager != nil {
		if raw, err := localrun.Get("http://" + b.addrs.metrics + "/metrics"); err == nil {
			if v, err := metricValue(raw, "process_cpu_seconds_total"); err == nil {
				out["manager"] = v
			}
		}
	}
	return out
}

// cpuRatio is raw's total CPU per operation over kubepay's (0 when either is unknown).
func cpuRatio(raw, kubepay map[string]float64) float64 {
	if raw["total"] <= 0 || kubepay["total"] <= 0 {
		return 0
	}
	return round(raw["total"] / kubepay["total"])
}

// harness names the bench's own CPU in cpuSeconds; it is reported apart from the total, which is
// what the system under test spent.
const harness = "bench_harness"

// cpuMillisPer is the CPU milliseconds each process spent per operation between two readings.
func cpuMillisPer(before, after map[string]float64, n int) map[string]float64 {
	out := map[string]float64{}
	total := 0.0
	for k, v := range after {
		if b, ok := before[k]; ok {
			out[k] = round((v - b) * 1000 / float64(n))
			if k != harness {
				total += (v - b) * 1000 / float64(n)
			}
		}
	}
	out["total"] = round(total)
	return out
}
