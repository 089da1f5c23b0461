package fakegateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

func errorBody(code, message string) map[string]string {
	return map[string]string{"code": code, "message": message}
}

// prepayRequest is the body of a Native or H5 prepay request, as far as the fake reads it.
type prepayRequest struct {
	AppID       string `json:"appid"`
	MchID       string `json:"mchid"`
	Description string `json:"description"`
	OutTradeNo  string `json:"out_trade_no"`
	TimeExpire  string `json:"time_expire"`
	NotifyURL   string `json:"notify_url"`
	Amount      struct {
		Total    int64  `json:"total"`
		Currency string `json:"currency"`
	} `json:"amount"`
	SceneInfo *struct {
		PayerClientIP string `json:"payer_client_ip"`
		H5Info        *struct {
			Type string `json:"type"`
		} `json:"h5_info"`
	} `json:"scene_info"`
}

// prepay creates (or finds) a Native or H5 order.
func (g *Gateway) prepay(w http.ResponseWriter, r *http.Request, body []byte, f Fault) {
	channel := strings.TrimPrefix(r.URL.Path, "/v3/pay/transactions/")
	req, refusal := g.parsePrepay(body, channel)
	if refusal != nil {
		g.reply(w, http.StatusBadRequest, refusal, f)
		return
	}
	o, exists := g.orders[req.OutTradeNo]
	switch {
	case exists && (o.Total != req.Amount.Total || o.Description != req.Description || o.Channel != channel):
		g.reply(w, http.StatusForbidden, errorBody("OUT_TRADE_NO_USED", "商户订单号重复"), f)
		return
	case exists && (o.TradeState == Success || o.TradeState == TradeRefund):
		g.reply(w, http.StatusBadRequest, errorBody("ORDERPAID", "订单已支付"), f)
		return
	case exists && o.TradeState == Closed:
		g.reply(w, http.StatusBadRequest, errorBody("ORDER_CLOSED", "订单已关闭"), f)
		return
	case !exists:
		o = &Order{OutTradeNo: req.OutTradeNo, TradeState: NotPay, Description: req.Description, NotifyURL: req.NotifyURL,
			TimeExpire: req.TimeExpire, Channel: channel, Total: req.Amount.Total}
		if req.SceneInfo != nil {
			o.PayerClientIP = req.SceneInfo.PayerClientIP
		}
		if channel == "h5" {
			o.PayURL = "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx" + RandomString(12)
		} else {
			o.PayURL = "weixin://wxpay/bizpayurl?pr=" + RandomString(5)
		}
		g.orders[req.OutTradeNo] = o
	}
	field := "code_url"
	if channel == "h5" {
		field = "h5_url"
	}
	g.reply(w, http.StatusOK, map[string]string{field: o.PayURL}, f)
}

// parsePrepay decodes a prepay request and refuses it as WeChat Pay would, before any order is
// looked up: the request's own faults come first. A non-nil refusal is the 400 answer's body.
func (g *Gateway) parsePrepay(body []byte, channel string) (req prepayRequest, refusal map[string]string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return req, errorBody("PARAM_ERROR", "body is not JSON")
	}
	// Required fields must be present under their exact wire names.
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(body, &raw)
	for _, k := range []string{"appid", "mchid", "description", "out_trade_no", "notify_url", "amount"} {
		if _, ok := raw[k]; !ok {
			return req, errorBody("PARAM_ERROR", "missing "+k)
		}
	}
	_, errExpire := time.Parse(time.RFC3339, req.TimeExpire)
	switch {
	case req.AppID != g.AppID || req.MchID != g.MchID:
		return req, errorBody("APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
	case req.Description == "" || req.NotifyURL == "" || req.Amount.Total <= 0 || req.Amount.Currency != "CNY" || (req.TimeExpire != "" && errExpire != nil):
		return req, errorBody("PARAM_ERROR", "参数错误")
	case channel == "h5" && (req.SceneInfo == nil || req.SceneInfo.PayerClientIP == "" || req.SceneInfo.H5Info == nil):
		return req, errorBody("PARAM_ERROR", "scene_info.payer_client_ip and h5_info are required")
	}
	return req, nil
}

// query answers an order by out_trade_no.
func (g *Gateway) query(w http.ResponseWriter, r *http.Request, _ []byte, f Fault) {
	if r.URL.Query().Get("mchid") != g.MchID {
		g.reply(w, http.StatusBadRequest, errorBody("PARAM_ERROR", "mchid"), f)
		return
	}
	o, ok := g.orders[r.PathValue("otn")]
	if !ok {
		g.reply(w, http.StatusNotFound, errorBody("ORDER_NOT_EXIST", "订单不存在"), f)
		return
	}
	g.reply(w, http.StatusOK, g.transaction(o), f)
}

// close closes an unpaid order.
func (g *Gateway) close(w http.ResponseWriter, r *http.Request, body []byte, f Fault) {
	var req struct {
		MchID string `json:"mchid"`
	}
	if json.Unmarshal(body, &req) != nil || req.MchID != g.MchID {
		g.reply(w, http.StatusBadRequest, errorBody("PARAM_ERROR", "mchid"), f)
		return
	}
	o, ok := g.orders[r.PathValue("otn")]
	switch {
	case !ok:
		g.reply(w, http.StatusNotFound, errorBody("ORDER_NOT_EXIST", "订单不存在"), f)
	case o.TradeState == Success || o.TradeState == TradeRefund:
		g.reply(w, http.StatusBadRequest, errorBody("ORDERPAID", "订单已支付"), f)
	case o.TradeState == Closed:
		g.reply(w, http.StatusBadRequest, errorBody("ORDER_CLOSED", "订单已关闭"), f)
	default:
		o.TradeState = Closed
		g.reply(w, http.StatusNoContent, nil, f)
	}
}

// transaction is the order as query answers and notifications carry it.
func (g *Gateway) transaction(o *Order) map[string]any {
	tx := map[string]any{
		"appid": g.AppID, "mchid": g.MchID, "out_trade_no": o.OutTradeNo, "trade_state": o.TradeState,
		"trade_type": strings.ToUpper(o.Channel), "trade_state_desc": o.TradeState, "attach": "",
		"amount": map[string]any{"total": o.Total, "currency": "CNY", "payer_total": o.Total, "payer_currency": "CNY"},
	}
	if o.TradeState == Success || o.TradeState == TradeRefund {
		tx["transaction_id"] = o.TransactionID
		tx["success_time"] = o.SuccessTime.In(chinaTime).Format(time.RFC3339)
		tx["bank_type"] = "OTHERS"
		tx["payer"] = map[string]string{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
	}
	return tx
}
