package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/kubepay/kubepay/internal/localrun"
)

// etcdClient talks to the control plane's etcd through its JSON gateway (/v3/...) and metrics,
// to see what kubepay's objects cost in storage: the bytes each stored object takes and the
// database size, compacted and defragmented so only live data counts.
type etcdClient struct {
	base string
	http *http.Client
}

func (b *bench) etcd() etcdClient {
	return etcdClient{base: b.env.Env.ControlPlane.Etcd.URL.String(), http: &http.Client{Timeout: 5 * time.Minute}}
}

func (e etcdClient) post(path string, in, out any) error {
	body, _ := json.Marshal(in)
	resp, err := e.http.Post(e.base+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: HTTP %d %s", path, resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

type rangeResponse struct {
	Header struct {
		Revision string `json:"revision"`
	} `json:"header"`
	Kvs []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"kvs"`
	Count string `json:"count"`
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// prefixEnd is the end of the range of keys starting with prefix.
func prefixEnd(prefix string) string {
	end := []byte(prefix)
	end[len(end)-1]++
	return string(end)
}

// count is the number of keys under prefix, and the store's revision.
func (e etcdClient) count(prefix string) (n, rev int64, err error) {
	var r rangeResponse
	if err := e.post("/v3/kv/range", map[string]any{"key": b64(prefix), "range_end": b64(prefixEnd(prefix)), "count_only": true}, &r); err != nil {
		return 0, 0, err
	}
	n, _ = strconv.ParseInt(r.Count, 10, 64)
	rev, _ = strconv.ParseInt(r.Header.Revision, 10, 64)
	return n, rev, nil
}

// valueSizes are the sizes of the stored values of the first limit keys under prefix (JSON for
// custom resources, protobuf for built-in kinds).
func (e etcdClient) valueSizes(prefix string, limit int) ([]int, error) {
	var r rangeResponse
	if err := e.post("/v3/kv/range", map[string]any{"key": b64(prefix), "range_end": b64(prefixEnd(prefix)), "limit": limit}, &r); err != nil {
		return nil, err
	}
	sizes := make([]int, 0, len(r.Kvs))
	for _, kv := range r.Kvs {
		v, err := base64.StdEncoding.DecodeString(kv.Value)
		if err != nil {
			return nil, err
		}
		sizes = append(sizes, len(v))
	}
	return sizes, nil
}

// valueSize is the size of one stored value.
func (e etcdClient) valueSize(key string) (int, error) {
	var r rangeResponse
	if err := e.post("/v3/kv/range", map[string]any{"key": b64(key)}, &r); err != nil {
		return 0, err
	}
	if len(r.Kvs) == 0 {
		return 0, fmt.Errorf("etcd has no key %s", key)
	}
	v, err := base64.StdEncoding.DecodeString(r.Kvs[0].Value)
	return len(v), err
}

// compactedSize compacts the store to its current revision (dropping every older version of
// every key), defragments it (giving the freed pages back) and returns the database size: the
// live data only.
func (e etcdClient) compactedSize() (float64, error) {
	_, rev, err := e.count("/registry/")
	if err != nil {
		return 0, err
	}
	if err := e.post("/v3/kv/compaction", map[string]any{"revision": strconv.FormatInt(rev, 10), "physical": true}, nil); err != nil {
		return 0, err
	}
	if err := e.post("/v3/maintenance/defragment", map[string]any{}, nil); err != nil {
		return 0, err
	}
	return e.metric("etcd_mvcc_db_total_size_in_bytes")
}

func (e etcdClient) metric(name string) (float64, error) {
	raw, err := localrun.Get(e.base + "/metrics")
	if err != nil {
		return 0, err
	}
	return metricValue(raw, name)
}
