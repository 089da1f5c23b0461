package gatewaytest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// Received is one notification request as a Receiver saw it.
type Received struct {
	// EventID and Type are decoded from the body, empty when it is not an event.
	EventID   string
	Type      string
	Signature string
	Body      []byte
	At        time.Time
}

// AnswerFunc decides the answer to the n-th request (counted from 1) a Receiver gets.
type AnswerFunc func(n int, r *http.Request, body []byte) (status int, answer string)

// Ack acknowledges every notification.
func Ack(int, *http.Request, []byte) (int, string) { return http.StatusOK, "success" }

// Receiver is a notify_url endpoint for tests, on a loopback server closed when the test ends.
type Receiver struct {
	// URL is the notify_url to give the gateway.
	URL string

	answer AnswerFunc
	mu     sync.Mutex
	got    []Received
}

// NewReceiver starts a receiver answering with answer (Ack when nil).
func NewReceiver(t testing.TB, answer AnswerFunc) *Receiver {
	t.Helper()
	if answer == nil {
		answer = Ack
	}
	rc := &Receiver{answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL + "/notify"
	return rc
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, gateway.MaxBodyBytes))
	if err != nil {
		http.Error(w, "fail", http.StatusBadRequest)
		return
	}
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &ev) // a non-event body is recorded as is
	rc.mu.Lock()
	rc.got = append(rc.got, Received{EventID: ev.ID, Type: ev.Type, Signature: r.Header.Get(gateway.SignatureHeader), Body: body, At: time.Now()})
	n := len(rc.got)
	rc.mu.Unlock()
	status, answer := rc.answer(n, r, body)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

// Requests returns the requests received so far, in arrival order.
func (rc *Receiver) Requests() []Received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Received(nil), rc.got...)
}

// Wait polls until at least n requests arrived and returns them; the test fails after timeout.
func (rc *Receiver) Wait(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := rc.Requests()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatewaytest: receiver got %d requests within %v, want at least %d", len(got), timeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
