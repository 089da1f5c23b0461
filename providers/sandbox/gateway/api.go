package gateway

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// routes builds the HTTP API. Every request body is capped at MaxBodyBytes.
func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/payments", g.authed(g.handleCreate))
	mux.HandleFunc("GET /v1/payments", g.authed(g.handleLookup))
	mux.HandleFunc("GET /v1/payments/{id}", g.authed(g.handleGet))
	mux.HandleFunc("POST /v1/payments/{id}/close", g.authed(g.handleClose))
	mux.HandleFunc("POST /v1/payments/{id}/refunds", g.authed(g.handleCreateRefund))
	mux.HandleFunc("GET /v1/refunds", g.authed(g.handleLookupRefund))
	mux.HandleFunc("GET /v1/refunds/{id}", g.authed(g.handleGetRefund))
	mux.HandleFunc("POST /v1/events/{id}/resend", g.authed(g.handleResend))
	// The customer pays, not the merchant: no API key.
	mux.HandleFunc("POST /v1/payments/{id}/pay", g.handlePay)
	// The bank settles a refund, not the merchant: no API key either (a test aid).
	mux.HandleFunc("POST /v1/refunds/{id}/complete", g.handleCompleteRefund)
	mux.HandleFunc("GET /checkout/{id}", g.handleCheckout)
	mux.HandleFunc("GET /v1/public-key", g.handlePublicKey)
	mux.HandleFunc("GET /v1/stats", g.handleStats)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	return http.MaxBytesHandler(mux, MaxBodyBytes)
}

// authed requires one of Options.APIKeys as a Bearer token.
func (g *Gateway) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !g.validKey(token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sandbox"`)
			writeError(w, &apiError{Status: http.StatusUnauthorized, Code: codeUnauthorized, Message: "missing or invalid API key"})
			return
		}
		next(w, r)
	}
}

// validKey compares in constant time against every key, so timing reveals neither a key nor
// which one matched.
func (g *Gateway) validKey(token string) bool {
	match := 0
	for _, k := range g.opts.APIKeys {
		match |= subtle.ConstantTimeCompare([]byte(token), []byte(k))
	}
	return token != "" && match == 1
}

func (g *Gateway) handleCreate(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest, Message: "the Idempotency-Key header is required and must equal out_trade_no"})
		return
	}
	var req CreateRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if key != req.OutTradeNo {
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest,
			Message: fmt.Sprintf("Idempotency-Key %q does not equal out_trade_no %q", key, req.OutTradeNo)})
		return
	}
	canon, err := req.canonical()
	if err != nil {
		writeError(w, err)
		return
	}
	p, replay, err := g.create(canon, requestBaseURL(r))
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusCreated
	if replay {
		status = http.StatusOK
	}
	writeJSON(w, status, p)
}

func (g *Gateway) handleGet(w http.ResponseWriter, r *http.Request) {
	p, err := g.get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (g *Gateway) handleLookup(w http.ResponseWriter, r *http.Request) {
	otn := r.URL.Query().Get("out_trade_no")
	if otn == "" {
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest, Message: "the out_trade_no query parameter is required"})
		return
	}
	p, err := g.lookup(otn)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (g *Gateway) handleClose(w http.ResponseWriter, r *http.Request) {
	p, err := g.closePayment(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// handlePay accepts JSON {"outcome":...} from API callers, and the form posted by the checkout
// page, which gets an HTML page back.
func (g *Gateway) handlePay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			g.renderResult(w, http.StatusBadRequest, resultPage{Title: "Invalid request", Message: "The payment form could not be read.", CheckoutPath: checkoutPath(id)})
			return
		}
		p, returnURL, err := g.pay(id, r.PostForm.Get("outcome"), false)
		g.renderPayResult(w, id, p, returnURL, err)
		return
	}
	var body struct {
		Outcome string `json:"outcome"`
		// Late is a test aid: see pay.
		Late bool `json:"late,omitempty"`
	}
	if err := decodeJSON(r, &body); err != nil {
		writeError(w, err)
		return
	}
	p, _, err := g.pay(id, body.Outcome, body.Late)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (g *Gateway) handlePublicKey(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(g.publicPEM)
}

func (g *Gateway) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, g.Stats())
}

// decodeJSON reads exactly one JSON object and refuses unknown fields, as real gateways refuse
// unknown parameters: a misspelt field is a client bug worth surfacing.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	if err == nil {
		return nil
	}
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: codeTooLarge, Message: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
	}
	return &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest, Message: "request body is not a valid JSON object: " + err.Error()}
}

// requestBaseURL is the base URL the client used to reach the gateway, for payment_url when no
// public URL is configured.
func requestBaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{Status: http.StatusInternalServerError, Code: codeInternal, Message: "internal error"}
	}
	writeJSON(w, ae.Status, struct {
		Error *apiError `json:"error"`
	}{ae})
}
