package gateway

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"strconv"

	"github.com/kubepay/kubepay/internal/money"
)

// The hosted checkout: a small page the customer opens at payment_url, with two plain forms
// (no JavaScript) that post the outcome to /v1/payments/{id}/pay. html/template escapes every
// value, subject and metadata included, since they come from the merchant.

const pageStyle = `
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#eef1f6;color:#1f2933}
.card{background:#fff;border-radius:14px;box-shadow:0 8px 30px rgba(15,23,42,.12);padding:32px 36px;width:min(420px,92vw)}
.brand{margin:0 0 18px;font-size:13px;letter-spacing:.08em;text-transform:uppercase;color:#64748b}
h1{margin:0 0 6px;font-size:20px;font-weight:600;overflow-wrap:anywhere}
.amount{margin:0 0 22px;font-size:34px;font-weight:700}
.amount span{font-size:18px;font-weight:500;color:#64748b}
dl{display:grid;grid-template-columns:auto 1fr;gap:6px 16px;margin:0 0 24px;font-size:14px}
dt{color:#64748b}dd{margin:0;overflow-wrap:anywhere}
.status{font-weight:600}.status-succeeded{color:#15803d}.status-failed,.status-closed{color:#b91c1c}
.actions{display:flex;gap:12px}.actions form{flex:1;margin:0}
button{width:100%;padding:12px;border:0;border-radius:8px;font-size:16px;font-weight:600;cursor:pointer;background:#2563eb;color:#fff}
button[value=failed]{background:#e2e8f0;color:#1f2933}
.note{margin:0 0 8px;padding:12px;border-radius:8px;background:#f1f5f9}
a{color:#2563eb}
.foot{margin:22px 0 0;font-size:12px;color:#94a3b8}`

var pages = template.Must(template.New("layout").Parse(`{{define "layout"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · kubepay sandbox</title>
<style>{{.Style}}</style>
</head>
<body>
<main class="card">
<p class="brand">kubepay sandbox checkout</p>
{{template "content" .Data}}
<p class="foot">Simulated gateway: no money moves.</p>
</main>
</body>
</html>
{{end}}`))

var checkoutPage = template.Must(template.Must(pages.Clone()).Parse(`{{define "content"}}
<h1>{{.Subject}}</h1>
<p class="amount">{{.Amount}} <span>{{.Currency}}</span></p>
<dl>
<dt>Status</dt><dd class="status status-{{.Status}}">{{.Status}}</dd>
<dt>Order</dt><dd>{{.OutTradeNo}}</dd>
<dt>Payment</dt><dd>{{.ID}}</dd>
{{- if .ExpiresAt}}
<dt>Expires</dt><dd>{{.ExpiresAt}}</dd>
{{- end}}
</dl>
{{if .Payable -}}
<div class="actions">
<form method="post" action="/v1/payments/{{.ID}}/pay"><button name="outcome" value="succeeded">Pay</button></form>
<form method="post" action="/v1/payments/{{.ID}}/pay"><button name="outcome" value="failed">Fail</button></form>
</div>
{{- else -}}
<p class="note">{{.Note}}</p>
{{- end}}
{{end}}`))

var resultPageTmpl = template.Must(template.Must(pages.Clone()).Parse(`{{define "content"}}
<h1>{{.Title}}</h1>
<p class="note">{{.Message}}</p>
{{if .ReturnURL}}<p><a href="{{.ReturnURL}}">Return to the merchant</a></p>
{{else if .CheckoutPath}}<p><a href="{{.CheckoutPath}}">Back to the payment</a></p>
{{end}}
{{end}}`))

type layoutData struct {
	Title string
	Style template.CSS
	Data  any
}

type checkoutView struct {
	ID, OutTradeNo, Subject, Amount, Currency, Status, ExpiresAt string
	Payable                                                      bool
	Note                                                         string
}

type resultPage struct {
	Title, Message, ReturnURL, CheckoutPath string
}

func checkoutPath(id string) string { return "/checkout/" + id }

// formatAmount renders minor units with the currency's decimals (JPY 500, USD 10.50, KWD 1.234).
func formatAmount(minor int64, currency string) string {
	s, err := money.FromMinor(minor, currency)
	if err != nil {
		return strconv.FormatInt(minor, 10)
	}
	return s
}

func (g *Gateway) handleCheckout(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	g.mu.Lock()
	rec, ok := g.payments[id]
	var v checkoutView
	if ok {
		v = checkoutView{
			ID: rec.ID, OutTradeNo: rec.OutTradeNo, Subject: rec.Subject,
			Amount: formatAmount(rec.Amount, rec.Currency), Currency: rec.Currency, Status: rec.Status,
		}
		if !rec.ExpiresAt.IsZero() {
			v.ExpiresAt = rec.ExpiresAt.Format("2006-01-02 15:04:05 UTC")
		}
		switch {
		case rec.Status != StatusOpen:
			v.Note = "This payment is " + rec.Status + "; there is nothing left to pay."
		case rec.expired(g.now()):
			v.Note = "This payment has expired and can no longer be paid."
		default:
			v.Payable = true
		}
	}
	g.mu.Unlock()
	if !ok {
		g.renderResult(w, http.StatusNotFound, resultPage{Title: "Payment not found", Message: "There is no payment " + id + "."})
		return
	}
	g.render(w, http.StatusOK, checkoutPage, layoutData{Title: v.Subject, Data: v})
}

// renderPayResult answers the checkout form with a result page, success or not.
func (g *Gateway) renderPayResult(w http.ResponseWriter, id string, p Payment, returnURL string, err error) {
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{Status: http.StatusInternalServerError, Message: "internal error"}
		}
		g.renderResult(w, ae.Status, resultPage{Title: "Payment not completed", Message: ae.Message, CheckoutPath: checkoutPath(id)})
		return
	}
	page := resultPage{Title: "Payment succeeded", Message: "You paid " + formatAmount(p.Amount, p.Currency) + " " + p.Currency + " for " + p.Subject + ".", ReturnURL: returnURL}
	if p.Status == StatusFailed {
		page = resultPage{Title: "Payment failed", Message: "The payment for " + p.Subject + " failed; the merchant has been notified.", ReturnURL: returnURL}
	}
	g.renderResult(w, http.StatusOK, page)
}

func (g *Gateway) renderResult(w http.ResponseWriter, status int, page resultPage) {
	g.render(w, status, resultPageTmpl, layoutData{Title: page.Title, Data: page})
}

// render executes into a buffer first, so a template error becomes a clean 500 rather than a
// half-written page.
func (g *Gateway) render(w http.ResponseWriter, status int, t *template.Template, data layoutData) {
	data.Style = template.CSS(pageStyle)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		g.log.Error("render checkout page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// No scripts at all; inline style only; forms may only post back here; no framing.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
