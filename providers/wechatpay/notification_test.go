package wechatpay_test

import (
	"bytes"
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
		{"other event", "another resource type (pay score) is acknowledged and ignored", func() input {
			body := g.Envelope("EV-payscore-1", "PAYSCORE.USER_OPEN_SERVICE", "payscore", []byte(`{"openid":"o1"}`), []byte(fakegateway.APIv3Key), fixedNow)
			return input{resigned(g, body, fixedNow), body}
		}(), nil, ""},
		{"refund event without refund", "a refund resource that names no refund cannot be settled", func() input {
			body := g.Envelope("EV-refund-1", "REFUND.SUCCESS", "refund", []byte(`{"refund_status":"SUCCESS"}`), []byte(fakegateway.APIv3Key), fixedNow)
			return input{resigned(g, body, fixedNow), body}
		}(), providers.ErrMalformed, ""},
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
	if n.Refund != nil {
		t.Errorf("a payment notification carries a refund fact: %+v", n.Refund)
	}
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

// refundedGateway is a gateway on the fixed clock with the paid order "otn-paid" (10.50) and its
// refunds r-1 (3.00, SUCCESS), r-2 (2.00, CLOSED) and r-3 (1.00, ABNORMAL), made through a client.
func refundedGateway(t testing.TB) *fakegateway.Gateway {
	t.Helper()
	g := refundGateway(t)
	c := newClient(t, g.URL)
	for no, end := range map[string]struct {
		minor  int64
		status string
	}{"r-1": {300, fakegateway.RefundSuccess}, "r-2": {200, fakegateway.RefundClosed}, "r-3": {100, fakegateway.RefundAbnormal}} {
		mustRefund(t, c, refundReq(no, end.minor))
		if err := g.CompleteRefund(no, end.status); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// TestParseRefundNotification: REFUND.SUCCESS, REFUND.CLOSED and REFUND.ABNORMAL are verified and
// decrypted like payment notifications and become refund facts with an empty Status; forged,
// tampered and inconsistent ones are refused.
func TestParseRefundNotification(t *testing.T) {
	t.Parallel()
	g := refundedGateway(t)
	c := newClient(t, "https://api.invalid")
	type input struct {
		h    http.Header
		body []byte
	}
	refund := func(no string, mutate func(map[string]any)) input {
		h, body, err := g.RefundNotification(no, mutate)
		if err != nil {
			t.Fatal(err)
		}
		return input{h, body}
	}
	// raw encrypts and signs a refund resource under any event type, as WeChat Pay's keys would.
	raw := func(eventType string, resource map[string]any, key []byte) input {
		plain, err := json.Marshal(resource)
		if err != nil {
			t.Fatal(err)
		}
		body := g.Envelope("EV-refund-raw", eventType, "refund", plain, key, fixedNow)
		return input{resigned(g, body, fixedNow), body}
	}
	resource := func(status string) map[string]any {
		return map[string]any{"mchid": testMchID, "out_trade_no": "otn-paid", "transaction_id": "42000202603140000000000001", "out_refund_no": "r-1",
			"refund_id": "50300202603140000000000002", "refund_status": status, "success_time": "2026-03-14T23:09:26+08:00",
			"amount": map[string]any{"total": 1050, "refund": 300, "payer_total": 1050, "payer_refund": 300}}
	}
	held := func(no string) fakegateway.Refund { r, _ := g.Refund(no); return r }
	success := refund("r-1", nil)
	tests := []struct {
		name, why string
		in        input
		want      error
		fact      *providers.RefundFact
	}{
		{"success", "REFUND.SUCCESS: the refund r-1 of 3.00 succeeded at success_time", success, nil,
			&providers.RefundFact{OutRefundNo: "r-1", ProviderRefundID: held("r-1").RefundID, Status: providers.RefundSucceeded, AmountMinor: 300, Currency: "CNY", RefundedAt: fixedNow}},
		{"closed", "REFUND.CLOSED: the refund r-2 failed, nothing moved", refund("r-2", nil), nil,
			&providers.RefundFact{OutRefundNo: "r-2", ProviderRefundID: held("r-2").RefundID, Status: providers.RefundFailed, AmountMinor: 200, Currency: "CNY", FailureReason: "WeChat Pay closed the refund; no money moved"}},
		{"abnormal", "REFUND.ABNORMAL: the refund r-3 is stuck for a person to handle, not failed: its money left the merchant", refund("r-3", nil), nil,
			&providers.RefundFact{OutRefundNo: "r-3", ProviderRefundID: held("r-3").RefundID, Status: providers.RefundProcessing, AmountMinor: 100, Currency: "CNY", FailureReason: "abnormal"}},
		{"forged", "signed by a key that is not WeChat Pay's", input{fakegateway.SignedHeaders(fakekeys.Key("other"), g.PlatformKeyID, fixedNow, success.body), success.body}, providers.ErrSignature, nil},
		{"tampered", "a changed byte breaks the signature", input{success.h, bytes.Replace(success.body, []byte("REFUND.SUCCESS"), []byte("REFUND.CLOSED"), 1)}, providers.ErrSignature, nil},
		{"stale", "validly signed 301 s ago: a possible replay", input{resigned(g, success.body, fixedNow.Add(-301*time.Second)), success.body}, providers.ErrSignature, nil},
		{"probe", "WECHATPAY/SIGNTEST/ probes are refused", func() input {
			h := success.h.Clone()
			h.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+h.Get("Wechatpay-Signature"))
			return input{h, success.body}
		}(), providers.ErrSignature, nil},
		{"other APIv3 key", "signed, but encrypted with another key: the GCM tag fails", raw("REFUND.SUCCESS", resource("SUCCESS"), []byte("0123456789abcdef0123456789abcdef")), providers.ErrSignature, nil},
		{"status disagrees", "REFUND.SUCCESS whose resource says CLOSED cannot be trusted either way", raw("REFUND.SUCCESS", resource("CLOSED"), []byte(fakegateway.APIv3Key)), providers.ErrMalformed, nil},
		{"no out_refund_no", "nothing to settle", refund("r-1", func(r map[string]any) { delete(r, "out_refund_no") }), providers.ErrMalformed, nil},
		{"no out_trade_no", "no payment to find", refund("r-1", func(r map[string]any) { delete(r, "out_trade_no") }), providers.ErrMalformed, nil},
		{"refund over total", "more refunded than paid", refund("r-1", func(r map[string]any) {
			r["amount"] = map[string]any{"total": 1050, "refund": 1051, "payer_total": 1050, "payer_refund": 1051}
		}), providers.ErrMalformed, nil},
		{"no amount", "a refund of nothing", refund("r-1", func(r map[string]any) { delete(r, "amount") }), providers.ErrMalformed, nil},
		{"bad success_time", "the refund time must be RFC 3339", refund("r-1", func(r map[string]any) { r["success_time"] = "yesterday" }), providers.ErrMalformed, nil},
		{"unknown status", "a refund status WeChat Pay does not document", raw("REFUND.PENDING", resource("PENDING"), []byte(fakegateway.APIv3Key)), providers.ErrMalformed, nil},
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
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.why, err)
			}
			if n.Status != "" || n.Refund == nil {
				t.Fatalf("%s: Status %q, refund %+v; want a refund fact and no payment status", tc.why, n.Status, n.Refund)
			}
			got := *n.Refund
			if tc.fact.FailureReason == "abnormal" {
				if !strings.Contains(got.FailureReason, "ABNORMAL") {
					t.Errorf("%s: FailureReason %q does not say ABNORMAL", tc.why, got.FailureReason)
				}
				got.FailureReason = "abnormal"
			}
			if !got.RefundedAt.Equal(tc.fact.RefundedAt) {
				t.Errorf("%s: RefundedAt %v, want %v", tc.why, got.RefundedAt, tc.fact.RefundedAt)
			}
			got.RefundedAt = tc.fact.RefundedAt
			if got != *tc.fact {
				t.Errorf("%s: refund fact\n%+v\nwant\n%+v", tc.why, got, *tc.fact)
			}
			// The rest names the payment and the merchant, so the callback server finds and
			// checks the order. Refund resources carry no appid.
			o, _ := g.Order("otn-paid")
			var ev struct {
				ID        string `json:"id"`
				EventType string `json:"event_type"`
			}
			_ = json.Unmarshal(tc.in.body, &ev)
			if n.ID != ev.ID || n.Type != ev.EventType || n.OutTradeNo != "otn-paid" || n.ProviderPaymentID != "otn-paid" || n.MerchantID != testMchID ||
				n.TransactionID != o.TransactionID || n.AppID != "" || n.AmountMinor != 1050 || n.Currency != "CNY" {
				t.Errorf("%s: notification %+v", tc.why, n)
			}
		})
	}
}
