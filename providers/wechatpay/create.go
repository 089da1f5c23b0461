package wechatpay

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/kubepay/kubepay/providers"
)

// Channels: the prepay endpoint and the answer field holding what the customer opens.
var channels = map[string]struct{ path, urlField string }{
	"wechat_native": {"/v3/pay/transactions/native", "code_url"},
	"wechat_h5":     {"/v3/pay/transactions/h5", "h5_url"},
}

// maxDescription is WeChat Pay's limit on description, in characters.
const maxDescription = 127

type amount struct {
	Total    int64  `json:"total"`
	Currency string `json:"currency"`
}

type prepayRequest struct {
	AppID       string     `json:"appid"`
	MchID       string     `json:"mchid"`
	Description string     `json:"description"`
	OutTradeNo  string     `json:"out_trade_no"`
	TimeExpire  string     `json:"time_expire,omitempty"`
	NotifyURL   string     `json:"notify_url"`
	Amount      amount     `json:"amount"`
	SceneInfo   *sceneInfo `json:"scene_info,omitempty"`
}

type sceneInfo struct {
	PayerClientIP string `json:"payer_client_ip"`
	H5Info        struct {
		Type string `json:"type"`
	} `json:"h5_info"`
}

// Create implements providers.Provider with the Native (code_url) or H5 (h5_url) prepay API.
// WeChat Pay keys orders on out_trade_no: a repeat with the same parameters returns the same
// code_url, different parameters are OUT_TRADE_NO_USED (terminal), and a paid order answers
// ORDERPAID, in which case the order is queried and returned as it is. transaction_id does not
// exist before payment, so the payment's ID is the out_trade_no, unique within the merchant.
func (c *Client) Create(ctx context.Context, order providers.Order) (providers.Payment, error) {
	const op = "create"
	ch, ok := channels[order.Channel]
	switch {
	case !ok:
		return providers.Payment{}, providers.Terminal(op, "unsupported_channel", fmt.Errorf("create payment %q: channel %q is not a WeChat Pay channel (wechat_native, wechat_h5)", order.OutTradeNo, order.Channel))
	case order.Currency != "CNY":
		return providers.Payment{}, providers.Terminal(op, "unsupported_currency", fmt.Errorf("create payment %q: WeChat Pay takes CNY, the order is in %q", order.OutTradeNo, order.Currency))
	case !validOutTradeNo(order.OutTradeNo):
		return providers.Payment{}, providers.Terminal(op, "invalid_request", fmt.Errorf("create payment %q: out_trade_no must be 6 to 32 of [A-Za-z0-9_-|*]", order.OutTradeNo))
	case order.AmountMinor <= 0 || order.Subject == "":
		return providers.Payment{}, providers.Terminal(op, "invalid_request", fmt.Errorf("create payment %q: amount must be positive and subject set", order.OutTradeNo))
	case order.NotifyURL == "":
		return providers.Payment{}, providers.Terminal(op, "invalid_request", fmt.Errorf("create payment %q: WeChat Pay requires notify_url; set spec.callbackBaseURL of PaymentProvider %s/%s", order.OutTradeNo, c.namespace, c.name))
	case order.Channel == "wechat_h5" && order.PayerClientIP == "":
		// WeChat Pay compares payer_client_ip with the address of the device that opens h5_url;
		// a placeholder would make every H5 payment fail at the payer's end.
		return providers.Payment{}, providers.Terminal(op, "missing_payer_client_ip", fmt.Errorf("create payment %q: wechat_h5 needs the payer's IP address (scene_info.payer_client_ip), and the order has none", order.OutTradeNo))
	case order.Channel == "wechat_h5" && net.ParseIP(order.PayerClientIP) == nil:
		return providers.Payment{}, providers.Terminal(op, "invalid_payer_client_ip", fmt.Errorf("create payment %q: payer IP %q is not an IPv4 or IPv6 address", order.OutTradeNo, truncate(order.PayerClientIP)))
	}
	req := prepayRequest{
		AppID: c.appID, MchID: c.mchID, Description: clip(order.Subject, maxDescription), OutTradeNo: order.OutTradeNo,
		NotifyURL: order.NotifyURL, Amount: amount{Total: order.AmountMinor, Currency: "CNY"},
	}
	var expiresAt time.Time
	if !order.ExpiresAt.IsZero() {
		req.TimeExpire = order.ExpiresAt.In(chinaTime).Format(time.RFC3339)
		// The time WeChat Pay will read: whole seconds, as sent.
		expiresAt, _ = time.Parse(time.RFC3339, req.TimeExpire)
	}
	if order.Channel == "wechat_h5" {
		req.SceneInfo = &sceneInfo{PayerClientIP: order.PayerClientIP}
		req.SceneInfo.H5Info.Type = "Wap"
	}
	what := fmt.Sprintf("create payment %q", order.OutTradeNo)
	r, err := c.do(ctx, op, what, http.MethodPost, c.endpoint.JoinPath(ch.path), req)
	if err != nil {
		return providers.Payment{}, err
	}
	if r.status != http.StatusOK {
		if r.signed && r.errorCode() == codeOrderPaid {
			return c.Query(ctx, order.OutTradeNo, "")
		}
		return providers.Payment{}, c.answerError(op, what, r)
	}
	var answer map[string]string
	if err := json.Unmarshal(r.body, &answer); err != nil || answer[ch.urlField] == "" {
		return providers.Payment{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at WeChat Pay %s: answer has no %s", what, c.endpoint.Host, ch.urlField))
	}
	return providers.Payment{
		ID: order.OutTradeNo, OutTradeNo: order.OutTradeNo, Status: providers.StatusOpen,
		AmountMinor: order.AmountMinor, Currency: "CNY", PaymentURL: answer[ch.urlField], ExpiresAt: expiresAt,
	}, nil
}

// clip shortens s to n characters.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
