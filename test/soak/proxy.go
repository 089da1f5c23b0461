package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// proxy stands in for the Kubernetes Service in front of the managers' callback servers: it
// round-robins every request over the replicas, whether or not they are up. A request that lands
// on a dead replica gets 502 at once, as a Service with a stale endpoint would answer, so the
// gateway sees a failed delivery and retries it on its schedule; it never hangs.
type proxy struct {
	backends []*url.URL
	next     atomic.Uint64
	// perBackend counts the requests sent to each replica, badGateway those answered 502.
	perBackend []atomic.Int64
	badGateway atomic.Int64
	srv        *http.Server
	addr       string
}

func startProxy(addr string, backends []string, logTo io.Writer) (*proxy, error) {
	p := &proxy{perBackend: make([]atomic.Int64, len(backends))}
	for _, b := range backends {
		u, err := url.Parse("http://" + b)
		if err != nil {
			return nil, err
		}
		p.backends = append(p.backends, u)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			i := int(p.next.Add(1)-1) % len(p.backends)
			p.perBackend[i].Add(1)
			r.SetURL(p.backends[i])
		},
		Transport: &http.Transport{
			// Loopback: a live replica accepts at once; refused or reset means it is down.
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			ResponseHeaderTimeout: 20 * time.Second,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       30 * time.Second,
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			p.badGateway.Add(1)
			w.WriteHeader(http.StatusBadGateway)
		},
		ErrorLog: log.New(logTo, "proxy: ", log.LstdFlags),
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("callback proxy: %w", err)
	}
	p.addr = l.Addr().String()
	p.srv = &http.Server{Handler: rp, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(logTo, "proxy: ", log.LstdFlags)}
	go func() {
		if err := p.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_, _ = fmt.Fprintf(logTo, "proxy: serve: %v\n", err) // the log is the only place it can go
		}
	}()
	return p, nil
}

func (p *proxy) close() {
	if p != nil {
		_ = p.srv.Close()
	}
}
