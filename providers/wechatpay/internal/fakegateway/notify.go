package fakegateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Notification returns the headers and body WeChat Pay posts about the order's current state
// (TRANSACTION.SUCCESS for a paid order). mutate may change the transaction before it is
// encrypted and signed, so what it changes is validly signed.
func (g *Gateway) Notification(outTradeNo string, mutate func(tx map[string]any)) (http.Header, []byte, error) {
	g.mu.Lock()
	o, ok := g.orders[outTradeNo]
	if !ok {
		g.mu.Unlock()
		return nil, nil, fmt.Errorf("no order %q", outTradeNo)
	}
	tx := g.transaction(o)
	g.seq++
	id := fmt.Sprintf("EV-%s-%06d", RandomString(8), g.seq)
	now := g.now()
	g.mu.Unlock()
	if mutate != nil {
		mutate(tx)
	}
	plain, err := json.Marshal(tx)
	if err != nil {
		return nil, nil, err
	}
	eventType := "TRANSACTION.SUCCESS"
	if tx["trade_state"] != Success {
		eventType = "TRANSACTION." + fmt.Sprint(tx["trade_state"])
	}
	body := g.Envelope(id, eventType, "transaction", plain, g.APIv3Key, now)
	return SignedHeaders(g.PlatformKey, g.PlatformKeyID, now, body), body, nil
}

// Envelope encrypts plaintext under key as the resource of a notification body.
func (g *Gateway) Envelope(id, eventType, originalType string, plaintext, key []byte, at time.Time) []byte {
	nonce := RandomString(6) // 12 characters, the documented nonce length
	body, err := json.Marshal(map[string]any{
		"id": id, "create_time": at.In(chinaTime).Format(time.RFC3339), "resource_type": "encrypt-resource",
		"event_type": eventType, "summary": "支付成功",
		"resource": map[string]string{
			"original_type": originalType, "algorithm": "AEAD_AES_256_GCM", "associated_data": originalType,
			"nonce": nonce, "ciphertext": Encrypt(key, nonce, originalType, plaintext),
		},
	})
	if err != nil {
		panic(err)
	}
	return body
}

// Post sends a notification to notifyURL as WeChat Pay does and returns the answer.
func Post(ctx context.Context, notifyURL string, h http.Header, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, notifyURL, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b), err
}
