package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/localrun"
)

// The scale run: the same pass (pass.go) on an empty cluster, then on one holding -scale settled
// orders, side by side; then, optionally, retention deleting those orders.
//
//  1. the raw ceiling (as make bench), which also sets the paced rate;
//  2. the empty pass, in namespace bench-empty;
//  3. the settled orders, written through the API server as the raw path writes (create, then
//     status), each a copy of a settled order of the empty pass (status Paid, status.settled,
//     condition Settled, kubepay's finalizer: as the controller leaves them), in the
//     namespace of the loaded pass;
//  4. the loaded pass, in namespace bench-loaded, among them;
//  5. retention: the provider gets spec.retention.settledOrderTTL and a new manager deletes them.
//
// The database size is read compacted and defragmented around each step, so each step's bytes
// per order are those of the objects it left behind.

// pair is one figure on the empty and on the loaded cluster.
type pair struct {
	Empty  float64 `json:"empty"`
	Loaded float64 `json:"loaded"`
}

// ScaleResults are scale.json.
type ScaleResults struct {
	SettledOrders      int     `json:"settled_orders"`
	NewOrders          int     `json:"new_orders"`
	RawStatusPatchPerS float64 `json:"raw_status_patch_per_s"`
	RawCreatePerS      float64 `json:"raw_create_per_s"`
	FixturePerS        float64 `json:"settled_orders_written_per_s"`
	RawCPUMs           rawCPU  `json:"raw_cpu_ms_per_order"`
	// The manager's heap in use after GC grows by this much per 10,000 settled orders present
	// (idle heap, loaded minus empty); per 10,000 open orders (with the new orders in AwaitingPayment).
	HeapMiBPer10kSettledOrders float64 `json:"heap_mib_per_10k_settled_orders"`
	HeapMiBPer10kOpenOrders    pair    `json:"heap_mib_per_10k_open_orders"`
	HeapIdleMiB                pair    `json:"heap_idle_mib"`
	StartToReadyS              pair    `json:"start_to_ready_s"`
	CreateToAwaitingPerS       pair    `json:"create_to_awaiting_per_s"`
	NotifyAppliedPerS          pair    `json:"notify_applied_per_s"`
	NotifyP50Ms                pair    `json:"notify_p50_ms"`
	NotifyP99Ms                pair    `json:"notify_p99_ms"`
	// The first paced run's figures (half the raw ceiling), then every paced run.
	PacedOfferedPerS float64     `json:"paced_offered_per_s"`
	PacedNotifyP50Ms pair        `json:"paced_notify_p50_ms"`
	PacedNotifyP99Ms pair        `json:"paced_notify_p99_ms"`
	Paced            []pacedPair `json:"paced"`
	LateNotifyP50Ms  pair        `json:"late_notify_p50_ms"`
	LateNotifyP99Ms  pair        `json:"late_notify_p99_ms"`
	Targets          Targets     `json:"targets"`
	Storage          Storage     `json:"storage"`
	// APIServerHeapMiBPer10kSettled is the API server's heap growth per 10,000 settled orders
	// (its watch cache holds every order, settled or not; read without forcing a GC: rough).
	APIServerHeapMiBPer10kSettled float64     `json:"apiserver_heap_mib_per_10k_settled_orders"`
	Retention                     *Retention  `json:"retention,omitempty"`
	Empty                         *PassResult `json:"empty"`
	Loaded                        *PassResult `json:"loaded"`
}

// pacedPair is one paced rate on both clusters.
type pacedPair struct {
	Fraction     float64 `json:"fraction_of_raw_ceiling"`
	OfferedPerS  float64 `json:"offered_per_s"`
	AnsweredPerS pair    `json:"answered_per_s"`
	P50Ms        pair    `json:"notify_p50_ms"`
	P99Ms        pair    `json:"notify_p99_ms"`
}

// Targets are the scale issue's goals on this machine, each checked.
type Targets struct {
	SettledHeapAtMost5MiBPer10k bool `json:"heap_per_10k_settled_orders_at_most_5_mib"`
	OpenHeapAtMost30MiBPer10k   bool `json:"heap_per_10k_open_orders_at_most_30_mib"`
	PacedP99Under50ms           bool `json:"paced_notify_p99_under_50_ms"`
}

// Storage is what kubepay's objects take in etcd.
type Storage struct {
	// Stored values (JSON for PaymentOrders, protobuf for Leases and Events), bytes.
	SettledOrderBytes int `json:"settled_order_bytes"`
	FixtureOrderBytes int `json:"settled_fixture_order_bytes"`
	ClaimLeaseBytes   int `json:"claim_lease_bytes"`
	EventBytes        int `json:"event_bytes"`
	// A settled order as `kubectl get -o json` shows it, and without its managedFields.
	SettledOrderJSONBytes         int `json:"settled_order_json_bytes"`
	SettledOrderJSONBytesNoFields int `json:"settled_order_json_bytes_without_managed_fields"`
	// Database size (compacted, defragmented) per order: through kubepay (the order, its claim
	// Lease and its Events) and per written settled order alone.
	DBBytesPerPaidOrder    float64 `json:"db_bytes_per_order_through_kubepay"`
	DBBytesPerSettledOrder float64 `json:"db_bytes_per_settled_order"`
	DBMiBEmpty             float64 `json:"db_mib_before"`
	DBMiBLoaded            float64 `json:"db_mib_with_settled_orders"`
	DBMiBBeforeRetention   float64 `json:"db_mib_before_retention,omitempty"`
	DBMiBAfterRetention    float64 `json:"db_mib_after_retention,omitempty"`
}

// Retention is the deletion of the settled orders by spec.retention.settledOrderTTL.
type Retention struct {
	Deleted     int                `json:"deleted"`
	Seconds     float64            `json:"seconds"`
	PerS        float64            `json:"deleted_per_s"`
	PerDeletion map[string]float64 `json:"requests_per_deletion"`
}

const (
	emptyNS  = "bench-empty"
	loadedNS = "bench-loaded"
)

func (b *bench) runScale(ctx context.Context) (*ScaleResults, error) {
	fmt.Printf("kubepay scale bench: %d settled orders, %d new orders, concurrency %d\n", b.opts.scale, b.orders, b.conc)
	if err := b.start(); err != nil {
		return nil, err
	}
	res := &ScaleResults{SettledOrders: b.opts.scale, NewOrders: b.orders}
	fmt.Println("\n[1/5] ceiling: raw creates + status writes, no kubepay in the path")
	if err := b.raw(ctx, &res.RawCreatePerS, &res.RawStatusPatchPerS, &res.RawCPUMs); err != nil {
		return nil, err
	}
	if err := b.startGateway(); err != nil {
		return nil, err
	}
	pace := b.pacings(res.RawStatusPatchPerS)
	etcd := b.etcd()
	dbBefore, err := etcd.compactedSize()
	if err != nil {
		return nil, fmt.Errorf("reading etcd's size: %w", err)
	}

	fmt.Printf("[2/5] empty cluster (namespace %s)\n", emptyNS)
	if res.Empty, err = b.runPass(ctx, passConfig{name: "empty", ns: emptyNS, events: b.opts.events != "off", pace: pace, late: b.opts.late}); err != nil {
		return nil, err
	}
	dbEmpty, err := etcd.compactedSize()
	if err != nil {
		return nil, err
	}
	throughKubepay := 1 + b.orders + b.opts.paced
	res.Storage.DBBytesPerPaidOrder = round((dbEmpty - dbBefore) / float64(throughKubepay))

	apiHeapBefore, _ := b.apiserverHeap(ctx)
	fmt.Printf("[3/5] writing %d settled orders into %s\n", b.opts.scale, loadedNS)
	targets, err := b.writeSettled(ctx, res)
	if err != nil {
		return nil, err
	}
	dbLoaded, err := etcd.compactedSize()
	if err != nil {
		return nil, err
	}
	res.Storage.DBMiBEmpty, res.Storage.DBMiBLoaded = mib(int64(dbEmpty)), mib(int64(dbLoaded))
	res.Storage.DBBytesPerSettledOrder = round((dbLoaded - dbEmpty) / float64(b.opts.scale))
	if apiHeapAfter, err := b.apiserverHeap(ctx); err == nil && apiHeapBefore > 0 {
		res.APIServerHeapMiBPer10kSettled = round((apiHeapAfter - apiHeapBefore) / (1 << 20) / float64(b.opts.scale) * 10000)
	}
	if err := b.storageSizes(ctx, etcd, &res.Storage); err != nil {
		return nil, err
	}

	fmt.Printf("[4/5] loaded cluster (namespace %s, among the settled orders)\n", loadedNS)
	if res.Loaded, err = b.runPass(ctx, passConfig{name: "loaded", ns: loadedNS, events: b.opts.events != "off", pace: pace, late: b.opts.late, lateOf: targets}); err != nil {
		return nil, err
	}
	if b.opts.retention {
		fmt.Println("[5/5] retention deletes the settled orders")
		if db, err := etcd.compactedSize(); err == nil {
			res.Storage.DBMiBBeforeRetention = mib(int64(db))
		}
		if res.Retention, err = b.retention(ctx); err != nil {
			return nil, err
		}
		if db, err := etcd.compactedSize(); err == nil {
			res.Storage.DBMiBAfterRetention = mib(int64(db))
		}
	}
	res.summarise()
	printScale(res)
	return res, nil
}

func (r *ScaleResults) summarise() {
	e, l := r.Empty, r.Loaded
	present := float64(l.SettledPresent - e.SettledPresent)
	r.HeapMiBPer10kSettledOrders = round((l.HeapIdleMiB - e.HeapIdleMiB) / present * 10000)
	r.HeapIdleMiB = pair{e.HeapIdleMiB, l.HeapIdleMiB}
	r.HeapMiBPer10kOpenOrders = pair{e.HeapMiBPer10kOpenOrders, l.HeapMiBPer10kOpenOrders}
	r.StartToReadyS = pair{e.StartToReadyS, l.StartToReadyS}
	r.CreateToAwaitingPerS = pair{e.CreateToAwaitingPerS, l.CreateToAwaitingPerS}
	r.NotifyAppliedPerS = pair{e.NotifyAppliedPerS, l.NotifyAppliedPerS}
	r.NotifyP50Ms, r.NotifyP99Ms = pair{e.NotifyP50Ms, l.NotifyP50Ms}, pair{e.NotifyP99Ms, l.NotifyP99Ms}
	for i := range min(len(e.Paced), len(l.Paced)) {
		pe, pl := e.Paced[i], l.Paced[i]
		r.Paced = append(r.Paced, pacedPair{Fraction: pe.Fraction, OfferedPerS: pe.OfferedPerS,
			AnsweredPerS: pair{pe.AchievedPerS, pl.AchievedPerS}, P50Ms: pair{pe.P50Ms, pl.P50Ms}, P99Ms: pair{pe.P99Ms, pl.P99Ms}})
	}
	if len(r.Paced) > 0 {
		r.PacedOfferedPerS, r.PacedNotifyP50Ms, r.PacedNotifyP99Ms = r.Paced[0].OfferedPerS, r.Paced[0].P50Ms, r.Paced[0].P99Ms
	}
	r.LateNotifyP50Ms, r.LateNotifyP99Ms = pair{e.LateP50Ms, l.LateP50Ms}, pair{e.LateP99Ms, l.LateP99Ms}
	for _, p := range []*PassResult{e, l} {
		p.CreateVsRawRatio = round(p.CreateToAwaitingPerS / r.RawCreatePerS)
		p.NotifyVsRawRatio = round(p.NotifyAppliedPerS / r.RawStatusPatchPerS)
		p.NotifyVsRawCPURatio = cpuRatio(r.RawCPUMs.StatusPatch, p.NotifyCPUMs)
	}
	r.Targets = Targets{
		SettledHeapAtMost5MiBPer10k: r.HeapMiBPer10kSettledOrders <= 5,
		OpenHeapAtMost30MiBPer10k:   max(e.HeapMiBPer10kOpenOrders, l.HeapMiBPer10kOpenOrders) <= 30,
		PacedP99Under50ms:           max(r.PacedNotifyP99Ms.Empty, r.PacedNotifyP99Ms.Loaded) < 50,
	}
}

// writeSettled writes b.opts.scale settled orders into loadedNS, copies of a settled order of the
// empty pass with their own out_trade_no and payment, settled two days ago (so retention, at its
// 1h minimum, takes them and nothing else). It returns what late notifications about some of
// them say.
func (b *bench) writeSettled(ctx context.Context, res *ScaleResults) ([]lateTarget, error) {
	tmpl := &v1.PaymentOrder{}
	if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: emptyNS, Name: "order-00000"}, tmpl); err != nil {
		return nil, err
	}
	if !tmpl.Status.Settled {
		return nil, fmt.Errorf("the template order %s/%s is not settled", emptyNS, tmpl.Name)
	}
	c := b.env.Client
	if err := c.Create(ctx, namespace(loadedNS)); err != nil {
		return nil, err
	}
	settledAt := metav1.NewTime(time.Now().Add(-48 * time.Hour))
	n := b.opts.scale
	every := max(1, n/max(1, b.opts.late))
	var targets []lateTarget
	for i := 0; i < n; i += every {
		targets = append(targets, lateTarget{name: fmt.Sprintf("settled-%06d", i), outTradeNo: fmt.Sprintf("SETTLED%08d", i),
			paymentID: fmt.Sprintf("pay_settled_%06d", i), currency: tmpl.Spec.Currency, amountMinor: tmpl.Status.AmountMinor})
	}
	start := time.Now()
	err := parallel(n, b.conc, func(i int) error {
		o := order(loadedNS, fmt.Sprintf("settled-%06d", i))
		o.Labels = map[string]string{fixtureLabel: "true"}
		o.Finalizers = []string{v1.Finalizer}
		if err := c.Create(ctx, o); err != nil {
			return err
		}
		o.Status = *tmpl.Status.DeepCopy()
		o.Status.OutTradeNo, o.Status.ProviderPaymentID = fmt.Sprintf("SETTLED%08d", i), fmt.Sprintf("pay_settled_%06d", i)
		if c := meta.FindStatusCondition(o.Status.Conditions, v1.ConditionSettled); c != nil {
			c.LastTransitionTime = settledAt
		}
		return c.Status().Update(ctx, o)
	})
	if err != nil {
		return nil, fmt.Errorf("writing settled orders: %w", err)
	}
	res.FixturePerS = perSecond(n, time.Since(start))
	fmt.Printf("  %d settled orders written at %.0f/s\n", n, res.FixturePerS)
	return targets, nil
}

// storageSizes reads the stored size of one object of each kind kubepay leaves per order.
func (b *bench) storageSizes(ctx context.Context, etcd etcdClient, s *Storage) error {
	var err error
	if s.SettledOrderBytes, err = etcd.valueSize("/registry/kubepay.io/paymentorders/" + emptyNS + "/order-00000"); err != nil {
		return err
	}
	if s.FixtureOrderBytes, err = etcd.valueSize("/registry/kubepay.io/paymentorders/" + loadedNS + "/settled-000000"); err != nil {
		return err
	}
	if sizes, err := etcd.valueSizes("/registry/leases/"+emptyNS+"/kubepay-otn-", 1); err == nil && len(sizes) > 0 {
		s.ClaimLeaseBytes = sizes[0]
	}
	if sizes, err := etcd.valueSizes("/registry/events/"+emptyNS+"/", 1); err == nil && len(sizes) > 0 {
		s.EventBytes = sizes[0]
	}
	o := &v1.PaymentOrder{}
	if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: emptyNS, Name: "order-00000"}, o); err != nil {
		return err
	}
	o.APIVersion, o.Kind = v1.GroupVersion.String(), "PaymentOrder"
	full, _ := json.Marshal(o)
	o.ManagedFields = nil
	trimmed, _ := json.Marshal(o)
	s.SettledOrderJSONBytes, s.SettledOrderJSONBytesNoFields = len(full), len(trimmed)
	return nil
}

// apiserverHeap forces a GC in the API server (its pprof heap with gc=1) and reads its heap in use.
func (b *bench) apiserverHeap(ctx context.Context) (float64, error) {
	if _, err := b.apiserverGet(ctx, "/debug/pprof/heap?gc=1"); err != nil {
		return 0, err
	}
	body, err := b.apiserverGet(ctx, "/metrics")
	if err != nil {
		return 0, err
	}
	return metricValue(body, "go_memstats_heap_alloc_bytes")
}

// apiserverGet reads a path of the API server as the bench's admin.
func (b *bench) apiserverGet(ctx context.Context, path string) ([]byte, error) {
	hc, err := rest.HTTPClientFor(b.env.Config)
	if err != nil {
		return nil, err
	}
	return localrun.GetWith(ctx, hc, strings.TrimSuffix(b.env.Config.Host, "/")+path)
}

// retention gives the loaded pass's provider a settledOrderTTL of 1h (the minimum) and starts a
// manager: its housekeeping, which runs at start, deletes the settled orders written two days
// ago. It reports how fast, and what each deletion costs in API requests.
func (b *bench) retention(ctx context.Context) (*Retention, error) {
	pp := &v1.PaymentProvider{}
	if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: loadedNS, Name: "sandbox"}, pp); err != nil {
		return nil, err
	}
	patch := client.MergeFrom(pp.DeepCopy())
	pp.Spec.Retention = &v1.RetentionSettings{SettledOrderTTL: &metav1.Duration{Duration: time.Hour}}
	if err := b.env.Client.Patch(ctx, pp, patch); err != nil {
		return nil, err
	}
	etcd := b.etcd()
	prefix := "/registry/kubepay.io/paymentorders/" + loadedNS + "/settled-"
	before := b.counts()
	start := time.Now()
	if err := b.startManager("retention", b.opts.events != "off"); err != nil {
		return nil, err
	}
	defer b.stopManager()
	left, lastLeft, lastChange := int64(-1), int64(-1), time.Now()
	for left != 0 {
		if b.manager.Exited() {
			return nil, fmt.Errorf("the manager exited during retention; see %s", b.manager.Log)
		}
		if time.Since(lastChange) > time.Minute {
			return nil, fmt.Errorf("retention stalled with %d settled orders left", left)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		var err error
		if left, _, err = etcd.count(prefix); err != nil {
			return nil, err
		}
		if left != lastLeft {
			lastLeft, lastChange = left, time.Now()
		}
	}
	took := time.Since(start)
	r := &Retention{Deleted: b.opts.scale, Seconds: round(took.Seconds()), PerS: perSecond(b.opts.scale, took)}
	b.settle(ctx)
	if before != nil {
		r.PerDeletion = perOrder(before, b.counts(), b.opts.scale)
	}
	fmt.Printf("  retention deleted %d settled orders in %.1fs (%.0f/s, from the manager's start); requests each %v\n", r.Deleted, r.Seconds, r.PerS, r.PerDeletion)
	return r, nil
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func printScale(r *ScaleResults) {
	fmt.Printf("\n%d settled orders present vs none; %d new orders\n", r.SettledOrders, r.NewOrders)
	fmt.Printf("%-44s %12s %12s\n", "metric", "empty", "loaded")
	rows := []struct {
		k string
		p pair
	}{
		{"start_to_ready_s", r.StartToReadyS}, {"heap_idle_mib", r.HeapIdleMiB},
		{"heap_mib_per_10k_open_orders (target <= 30)", r.HeapMiBPer10kOpenOrders},
		{"create_to_awaiting_per_s", r.CreateToAwaitingPerS}, {"notify_applied_per_s", r.NotifyAppliedPerS},
		{"notify_p50_ms (saturation)", r.NotifyP50Ms}, {"notify_p99_ms (saturation)", r.NotifyP99Ms},
		{"heap_spans_mib_per_10k_open_orders", pair{r.Empty.HeapSpansMiBPer10kOpenOrders, r.Loaded.HeapSpansMiBPer10kOpenOrders}},
		{"late_notify_p50_ms", r.LateNotifyP50Ms}, {"late_notify_p99_ms", r.LateNotifyP99Ms},
	}
	for _, p := range r.Paced {
		rows = append(rows, []struct {
			k string
			p pair
		}{
			{fmt.Sprintf("paced %.0f/s (%.2f of raw): answered_per_s", p.OfferedPerS, p.Fraction), p.AnsweredPerS},
			{fmt.Sprintf("paced %.0f/s (%.2f of raw): notify_p50_ms", p.OfferedPerS, p.Fraction), p.P50Ms},
			{fmt.Sprintf("paced %.0f/s (%.2f of raw): notify_p99_ms", p.OfferedPerS, p.Fraction), p.P99Ms},
		}...)
	}
	for _, row := range rows {
		fmt.Printf("%-50s %12.2f %12.2f\n", row.k, row.p.Empty, row.p.Loaded)
	}
	fmt.Printf("%-50s %12.2f\n", "heap_mib_per_10k_settled_orders (target <= 5)", r.HeapMiBPer10kSettledOrders)
	fmt.Printf("%-50s %12.2f\n", "raw_status_patch_per_s", r.RawStatusPatchPerS)
	fmt.Printf("%-50s %12.2f\n", "apiserver_heap_mib_per_10k_settled_orders", r.APIServerHeapMiBPer10kSettled)
	s := r.Storage
	fmt.Printf("\netcd: settled order %d B stored (%d B as JSON, %d B without managedFields), written copy %d B, claim Lease %d B, Event %d B\n",
		s.SettledOrderBytes, s.SettledOrderJSONBytes, s.SettledOrderJSONBytesNoFields, s.FixtureOrderBytes, s.ClaimLeaseBytes, s.EventBytes)
	fmt.Printf("etcd database (compacted): %.0f B per order through kubepay, %.0f B per settled order; %.1f -> %.1f MiB",
		s.DBBytesPerPaidOrder, s.DBBytesPerSettledOrder, s.DBMiBEmpty, s.DBMiBLoaded)
	if r.Retention != nil {
		fmt.Printf(", %.1f -> %.1f MiB by retention", s.DBMiBBeforeRetention, s.DBMiBAfterRetention)
	}
	fmt.Printf("\ntargets: %+v\n", r.Targets)
	printWrites(r.Empty)
}
