package wechatpay_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/internal/fakekeys"
	"github.com/kubepay/kubepay/providers/wechatpay/internal/fakegateway"
)

// paidGateway holds one paid order "otn-paid" of 10.50, paid at fixedNow.
func paidGateway(t testing.TB) *fakegateway.Gateway {
	t.Helper()
	g := fakegateway.New(testAppID, testMchID)
	g.SetClock(clock)
	g.AddOrder(fakegateway.Order{OutTradeNo: "otn-paid", TradeState: fakegateway.NotPay, Channel: "native", Total: 1050})
	if _, err := g.Pay("otn-paid"); err != nil {
		t.Fatal(err)
	}
	return g
}

// notification is a signed notification of the paid order; mutate changes the transaction before
// it is encrypted and signed.
func notification(t testing.TB, g *fakegateway.Gateway, mutate func(map[string]any)) (http.Header, []byte) {
	t.Helper()
	h, body, err := g.Notification("otn-paid", mutate)
	if err != nil {
		t.Fatal(err)
	}
	return h, body
}

// resigned signs body with key under serial at, as a sender holding key would.
func resigned(g *fakegateway.Gateway, body []byte, at time.Time) http.Header {
	return fakegateway.SignedHeaders(g.PlatformKey, g.PlatformKeyID, at, body)
}

// TestParseNotification is the bad-notification table. Amount mismatch and another merchant pass
// here (they are validly signed) and are refused by the callback server: see the envtest test.
func TestParseNotification(t *testing.T) {
	t.Parallel()
	g := paidGateway(t)
	c := newClient(t, "https://api.invalid")
	type input struct {
		h    http.Header
		body []byte
	}
	build := func(f func() (http.Header, []byte)) input { h, b := f(); return input{h, b} }
	valid := build(func() (http.Header, []byte) { return notification(t, g, nil) })
	edited := func(edit func(h http.Header, body []byte) []byte) input {
		h, body := notification(t, g, nil)
		h = h.Clone()
		body = edit(h, append([]byte(nil), body...))
		return input{h, body}
	}
	envelope := func(tx []byte, key []byte, ad string) input {
		body := g.Envelope("EV-test-1", "TRANSACTION.SUCCESS", "transaction", tx, key, fixedNow)
		if ad != "" {
			body = []byte(strings.Replace(string(body), `"associated_data":"transaction"`, `"associated_data":"`+ad+`"`, 1))
		}
		return input{resigned(g, body, fixedNow), body}
	}
	signedBody := func(body string) input { return input{resigned(g, []byte(body), fixedNow), []byte(body)} }
	tests := []struct {
		name, why string
		in        input
		want      error
		status    providers.PaymentStatus
	}{
		{"valid", "signed by the platform key, encrypted with the APIv3 key", valid, nil, providers.StatusSucceeded},
		{"tampered body", "a changed byte breaks the signature", edited(func(_ http.Header, b []byte) []byte {
			return []byte(strings.Replace(string(b), "TRANSACTION.SUCCESS", "TRANSACTION.SUCCESs", 1))
		}), providers.ErrSignature, ""},
		{"tampered nonce", "the nonce is signed", edited(func(h http.Header, b []byte) []byte { h.Set("Wechatpay-Nonce", "X"+h.Get("Wechatpay-Nonce")); return b }), providers.ErrSignature, ""},
		{"wrong key", "signed by a key that is not WeChat Pay's", input{fakegateway.SignedHeaders(fakekeys.Key("other"), g.PlatformKeyID, fixedNow, valid.body), valid.body}, providers.ErrSignature, ""},
		{"unknown serial", "the serial selects the key; an unknown one has none", input{fakegateway.SignedHeaders(g.PlatformKey, "PUB_KEY_ID_0000000000000000000000000001", fixedNow, valid.body), valid.body}, providers.ErrSignature, ""},
		{"stale timestamp", "validly signed 301 s ago: a possible replay", input{resigned(g, valid.body, fixedNow.Add(-301*time.Second)), valid.body}, providers.ErrSignature, ""},
		{"future timestamp", "validly signed 301 s ahead", input{resigned(g, valid.body, fixedNow.Add(301*time.Second)), valid.body}, providers.ErrSignature, ""},
		{"edge of window", "signed 300 s ago is still inside the window", input{resigned(g, valid.body, fixedNow.Add(-300*time.Second)), valid.body}, nil, providers.StatusSucceeded},
		{"probe", "WECHATPAY/SIGNTEST/ probes must be refused", edited(func(h http.Header, b []byte) []byte {
			h.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+h.Get("Wechatpay-Signature"))
			return b
		}), providers.ErrSignature, ""},
		{"no signature", "headers missing", input{http.Header{}, valid.body}, providers.ErrSignature, ""},
		{"signature not base64", "garbage in Wechatpay-Signature", edited(func(h http.Header, b []byte) []byte { h.Set("Wechatpay-Signature", "%%%"); return b }), providers.ErrSignature, ""},
		{"timestamp not a number", "Wechatpay-Timestamp must be unix seconds", edited(func(h http.Header, b []byte) []byte { h.Set("Wechatpay-Timestamp", "1e9"); return b }), providers.ErrSignature, ""},
		{"signature type", "only WECHATPAY2-SHA256-RSA2048 is accepted", edited(func(h http.Header, b []byte) []byte {
			h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SM2-WITH-SM3")
			return b
		}), providers.ErrSignature, ""},
		{"bad GCM tag", "signed, but encrypted with another APIv3 key", envelope(txJSON(t, nil), []byte("0123456789abcdef0123456789abcdef"), ""), providers.ErrSignature, ""},
		{"bad associated data", "signed, but the associated data does not match the ciphertext", envelope(txJSON(t, nil), []byte(fakegateway.APIv3Key), "payscore"), providers.ErrSignature, ""},
		{"malformed body", "signed, but not JSON", signedBody(`{"id":`), providers.ErrMalformed, ""},
		{"no event id", "signed, but nothing to deduplicate on", signedBody(`{"event_type":"TRANSACTION.SUCCESS","resource":{}}`), providers.ErrMalformed, ""},
		{"other algorithm", "signed, but not AEAD_AES_256_GCM", signedBody(`{"id":"EV-1","event_type":"TRANSACTION.SUCCESS","resource":{"algorithm":"AEAD_SM4_GCM"}}`), providers.ErrMalformed, ""},
		{"malformed transaction", "signed and encrypted, but the plaintext is not JSON", envelope([]byte("{"), []byte(fakegateway.APIv3Key), ""), providers.ErrMalformed, ""},
		{"no amount", "a SUCCESS without amount cannot be checked against the order", envelope(txJSON(t, func(tx map[string]any) { delete(tx, "amount") }), []byte(fakegateway.APIv3Key), ""), providers.ErrMalformed, ""},
		{"closed", "trade_state CLOSED is closed", build(func() (http.Header, []byte) {
			return notification(t, g, func(tx map[string]any) { tx["trade_state"] = "CLOSED" })
		}), nil, providers.StatusClosed},
		{"pay error", "trade_state PAYERROR is not final (the payer may pay another way): acknowledged, not acted on", build(func() (http.Header, []byte) {
			return notification(t, g, func(tx map[string]any) { tx["trade_state"] = "PAYERROR" })
		}), nil, ""},
		{"refund state", "trade_state REFUND is not a payment success: acknowledged, not acted on", build(func() (http.Header, []byte) {
			return notification(t, g, func(tx map[string]any) { tx["trade_state"] = "REFUND" })
		}), nil, ""},
		{"refund event", "another resource type is acknowledged and ignored", func() input {
			body := g.Envelope("EV-refund-1", "REFUND.SUCCESS", "refund", []byte(`{"refund_status":"SUCCESS"}`), []byte(fakegateway.APIv3Key), fixedNow)
			return input{resigned(g, body, fixedNow), body}
		}(), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/notify", nil)
			r.Header = tc.in.h
			n, err := c.ParseNotification(context.Background(), r, tc.in.body)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: got %v, want %v", tc.why, err, tc.want)
				}
				if sig := tc.in.h.Get("Wechatpay-Signature"); len(sig) > 24 && strings.Contains(err.Error(), sig[len(sig)-24:]) {
					t.Errorf("error carries the signature: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.why, err)
			}
			if n.Status != tc.status {
				t.Errorf("%s: status %q, want %q", tc.why, n.Status, tc.status)
			}
		})
	}
}

// TestParseNotificationFields: the fields the callback server checks come from the decrypted,
// verified transaction.
func TestParseNotificationFields(t *testing.T) {
	t.Parallel()
	g := paidGateway(t)
	c := newClient(t, "https://api.invalid")
	h, body := notification(t, g, nil)
	r := httptest.NewRequest(http.MethodPost, "/notify", nil)
	r.Header = h
	n, err := c.ParseNotification(context.Background(), r, body)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct{ ID string }
	_ = json.Unmarshal(body, &ev)
	want := providers.Notification{
		ID: ev.ID, Type: "TRANSACTION.SUCCESS", OutTradeNo: "otn-paid", ProviderPaymentID: "otn-paid",
		Status: providers.StatusSucceeded, AmountMinor: 1050, Currency: "CNY", AppID: testAppID, MerchantID: testMchID, OccurredAt: fixedNow,
	}
	o, _ := g.Order("otn-paid")
	if want.TransactionID = o.TransactionID; want.TransactionID == "" {
		t.Fatal("the gateway's paid order has no transaction_id")
	}
	if !n.OccurredAt.Equal(fixedNow) {
		t.Errorf("OccurredAt %v, want %v", n.OccurredAt, fixedNow)
	}
	n.OccurredAt = fixedNow
	if n != want {
		t.Errorf("notification\n%+v\nwant\n%+v", n, want)
	}
}

// TestAck: 204 without body on success; 400 or 500 with {"code":"FAIL"} and a fixed message,
// never the error's text.
func TestAck(t *testing.T) {
	t.Parallel()
	c := newClient(t, "https://api.invalid")
	tests := []struct {
		name, why string
		err       error
		status    int
	}{
		{"ok", "204 without body stops WeChat Pay's retries", nil, http.StatusNoContent},
		{"signature", "a notification that never verifies is a client error", errors.Join(providers.ErrSignature, errors.New("detail-xyz")), http.StatusBadRequest},
		{"malformed", "a verified but unparsable notification is a client error too", errors.Join(providers.ErrMalformed, errors.New("detail-xyz")), http.StatusBadRequest},
		{"write failed", "anything else is ours, and WeChat Pay must retry", errors.New("detail-xyz"), http.StatusInternalServerError},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		c.Ack(rec, tc.err)
		if rec.Code != tc.status {
			t.Errorf("%s: %s: status %d, want %d", tc.name, tc.why, rec.Code, tc.status)
		}
		if tc.err == nil {
			if rec.Body.Len() != 0 {
				t.Errorf("%s: body %q, want none", tc.name, rec.Body)
			}
			continue
		}
		var a struct{ Code, Message string }
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.Code != "FAIL" || a.Message == "" || strings.Contains(rec.Body.String(), "detail-xyz") {
			t.Errorf("%s: body %q", tc.name, rec.Body)
		}
	}
}

// txJSON is the paid transaction as WeChat Pay encrypts it, after mutate.
func txJSON(t testing.TB, mutate func(map[string]any)) []byte {
	t.Helper()
	tx := map[string]any{
		"appid": testAppID, "mchid": testMchID, "out_trade_no": "otn-paid", "transaction_id": "4200000000202603140001",
		"trade_state": "SUCCESS", "success_time": "2026-03-14T23:09:26+08:00",
		"amount": map[string]any{"total": 1050, "currency": "CNY"},
	}
	if mutate != nil {
		mutate(tx)
	}
	b, err := json.Marshal(tx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
