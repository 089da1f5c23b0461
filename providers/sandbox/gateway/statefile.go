package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// stateVersion is bumped when the state file format changes incompatibly. Refunds were added
// compatibly: a version 1 file without them loads as a gateway without refunds.
const stateVersion = 1

// state is the durable content of Options.StateFile. It holds the signing key, so it is written
// with mode 0600.
type state struct {
	Version     int                          `json:"version"`
	SigningKey  string                       `json:"signing_key_pem"`
	Payments    []*record                    `json:"payments"`
	Idempotency map[string]idempotencyRecord `json:"idempotency"`
	Deliveries  []*delivery                  `json:"deliveries"`
	Counters    counters                     `json:"counters"`
	Refunds     []*refundRecord              `json:"refunds,omitempty"`
	RefundIdem  map[string]refundIdempotency `json:"refund_idempotency,omitempty"`
}

// snapshotLocked serialises the store for the state file. It returns nothing without a state
// file: the in-memory gateway pays no serialisation cost. gen orders the snapshots so that an
// older one never overwrites a newer one.
func (g *Gateway) snapshotLocked() (gen uint64, data []byte, err error) {
	if g.opts.StateFile == "" {
		return 0, nil, nil
	}
	keyPEM, err := privateKeyPEM(g.key)
	if err != nil {
		return 0, nil, err
	}
	st := state{
		Version:     stateVersion,
		SigningKey:  string(keyPEM),
		Payments:    make([]*record, 0, len(g.paymentOrder)),
		Idempotency: g.idempotency,
		Deliveries:  g.deliveries,
		Counters:    g.counters,
		RefundIdem:  g.refundIdem,
	}
	for _, id := range g.paymentOrder {
		st.Payments = append(st.Payments, g.payments[id])
	}
	for _, id := range g.refundOrder {
		st.Refunds = append(st.Refunds, g.refunds[id])
	}
	if data, err = json.Marshal(st); err != nil {
		return 0, nil, fmt.Errorf("encode sandbox gateway state: %w", err)
	}
	g.stateGen++
	return g.stateGen, data, nil
}

// loadState reads the state file; a missing file is not an error (first start).
func loadState(path string) (*state, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read sandbox gateway state file %s: %w", path, err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode sandbox gateway state file %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("sandbox gateway state file %s has version %d, this gateway reads version %d", path, st.Version, stateVersion)
	}
	return &st, nil
}

// restore rebuilds the store from a loaded state. Options.SigningKey, when set, wins over the
// stored key (and replaces it at the next write).
func (g *Gateway) restore(st *state) error {
	path := g.opts.StateFile
	if st.SigningKey != "" {
		// Parsed even when Options.SigningKey wins: a corrupt state file is reported, not hidden.
		key, err := ParsePrivateKeyPEM([]byte(st.SigningKey))
		if err != nil {
			return fmt.Errorf("sandbox gateway state file %s: signing key: %w", path, err)
		}
		if g.key == nil {
			g.key = key
		}
	}
	for _, rec := range st.Payments {
		if rec == nil || rec.ID == "" {
			return fmt.Errorf("sandbox gateway state file %s: payment without id", path)
		}
		g.payments[rec.ID] = rec
		g.paymentOrder = append(g.paymentOrder, rec.ID)
	}
	for otn, idem := range st.Idempotency {
		if _, ok := g.payments[idem.PaymentID]; !ok {
			return fmt.Errorf("sandbox gateway state file %s: idempotency key %q points to unknown payment %q", path, otn, idem.PaymentID)
		}
		g.idempotency[otn] = idem
	}
	for _, rf := range st.Refunds {
		if rf == nil || rf.ID == "" {
			return fmt.Errorf("sandbox gateway state file %s: refund without id", path)
		}
		if _, ok := g.payments[rf.PaymentID]; !ok {
			return fmt.Errorf("sandbox gateway state file %s: refund %s is of unknown payment %q", path, rf.ID, rf.PaymentID)
		}
		g.refunds[rf.ID] = rf
		g.refundOrder = append(g.refundOrder, rf.ID)
	}
	for orn, idem := range st.RefundIdem {
		if _, ok := g.refunds[idem.RefundID]; !ok {
			return fmt.Errorf("sandbox gateway state file %s: out_refund_no %q points to unknown refund %q", path, orn, idem.RefundID)
		}
		g.refundIdem[orn] = idem
	}
	for _, d := range st.Deliveries {
		if d == nil || d.EventID == "" {
			return fmt.Errorf("sandbox gateway state file %s: delivery without event id", path)
		}
		g.deliveries = append(g.deliveries, d)
		g.deliveryByID[d.EventID] = d
	}
	g.counters = st.Counters
	return nil
}

// persister writes state snapshots to the state file, newest wins.
type persister struct {
	path    string
	mu      sync.Mutex
	written uint64
}

// write stores data as the state file unless a newer snapshot is already there.
func (p *persister) write(gen uint64, data []byte) error {
	if p.path == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen <= p.written {
		return nil
	}
	if err := writeFileAtomic(p.path, data); err != nil {
		return err
	}
	p.written = gen
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the old or the new
// content, never a torn file: write a temporary file in the same directory, fsync it, rename it
// over path, then fsync the directory so the rename itself is durable.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("write state file %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
			err = fmt.Errorf("write state file %s: %w", path, err)
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		// Some filesystems cannot fsync a directory; the rename is done either way.
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
