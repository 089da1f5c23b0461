package alipay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/internal/rsakeys"
)

// maxResponseBytes bounds what is read of a gateway answer.
const maxResponseBytes = 1 << 20

// answer is the response object of one OpenAPI call.
type answer struct {
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
	// raw is the response object's exact JSON text, the bytes Alipay signed.
	raw json.RawMessage
	// signed reports that raw carried a sign that verified. Alipay's gateway may answer some
	// failures unsigned; those are only ever reported as errors, never trusted as facts
	// ("no such trade", "already paid").
	signed bool
}

// call sends one OpenAPI request and returns the response object. A failure answer (code not
// 10000) comes back with a classified error and the answer, so callers can look at sub_code.
func (c *Client) call(ctx context.Context, op, method, what string, biz any) (answer, error) {
	bizJSON, err := compactJSON(biz)
	if err != nil {
		return answer{}, providers.Terminal(op, "invalid_request", fmt.Errorf("%s: encode biz_content: %w", what, err))
	}
	params := c.commonParams(method)
	params["biz_content"] = bizJSON
	values, err := c.signed(params)
	if err != nil {
		return answer{}, providers.Terminal(op, "sign", fmt.Errorf("%s: %w", what, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint.String(), strings.NewReader(values.Encode()))
	if err != nil {
		return answer{}, providers.Terminal(op, "invalid_request", fmt.Errorf("%s: build request: %w", what, err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// The request may or may not have reached Alipay; every call here is idempotent.
		return answer{}, providers.Retryable(op, "network", fmt.Errorf("%s at Alipay %s: %w", what, c.endpoint.Host, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return answer{}, providers.Retryable(op, "network", fmt.Errorf("%s at Alipay %s: read answer: %w", what, c.endpoint.Host, err))
	}
	if resp.StatusCode != http.StatusOK {
		// Alipay's gateway answers every call, failures included, with HTTP 200 and a JSON
		// object; any other status comes from something in between (a proxy's 404 page, a
		// load balancer's 502) and says nothing about the trade or the refund. Asked again.
		return answer{}, providers.Retryable(op, strconv.Itoa(resp.StatusCode), fmt.Errorf("%s at Alipay %s: HTTP %d without an Alipay answer", what, c.endpoint.Host, resp.StatusCode))
	}
	a, err := c.readAnswer(method, body)
	if err != nil {
		return answer{}, providers.Retryable(op, "bad_response", fmt.Errorf("%s at Alipay %s: %w", what, c.endpoint.Host, err))
	}
	if a.Code != codeSuccess {
		return a, c.answerError(op, what, a)
	}
	return a, nil
}

// readAnswer extracts and verifies the response object of method from a response body
// {"<method with _>_response":{...},"sign":"..."} (or "error_response" for gateway errors).
// The sign covers the object's exact JSON text, so it is taken from the body as it came, never
// re-encoded.
func (c *Client) readAnswer(method string, body []byte) (answer, error) {
	key := strings.ReplaceAll(method, ".", "_") + "_response"
	obj, sign, err := splitResponse(body, key)
	if err != nil {
		return answer{}, err
	}
	var a answer
	if err := json.Unmarshal(obj, &a); err != nil {
		return answer{}, fmt.Errorf("decode %s: %w", key, err)
	}
	a.raw = obj
	if sign != "" {
		if err := rsakeys.Verify(c.alipayKey, obj, sign); err != nil {
			return answer{}, fmt.Errorf("response %s: %w with the alipayPublicKey of PaymentProvider %s/%s", key, err, c.namespace, c.name)
		}
		a.signed = true
	} else if a.Code == codeSuccess {
		return answer{}, fmt.Errorf("response %s reports success but carries no sign", key)
	}
	return a, nil
}

// splitResponse walks the top-level object of body and returns the raw text of the response
// object (key, else "error_response") and the sign. Repeated keys are refused: a second copy
// could be what a lenient reader takes while the first is what was verified.
func splitResponse(body []byte, key string) (json.RawMessage, string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, "", errors.New("answer is not a JSON object")
	}
	var obj, errObj json.RawMessage
	var sign string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, "", fmt.Errorf("answer is not valid JSON: %w", err)
		}
		k, _ := tok.(string)
		if seen[k] {
			return nil, "", fmt.Errorf("answer repeats key %q", truncate(k))
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, "", fmt.Errorf("answer is not valid JSON: %w", err)
		}
		switch k {
		case key:
			obj = v
		case "error_response":
			errObj = v
		case "sign":
			if err := json.Unmarshal(v, &sign); err != nil {
				return nil, "", errors.New("answer's sign is not a string")
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, "", fmt.Errorf("answer is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "", errors.New("answer has data after its JSON object")
	}
	if obj == nil {
		obj = errObj
	}
	if len(obj) == 0 || obj[0] != '{' {
		return nil, "", fmt.Errorf("answer has no %s object", key)
	}
	return obj, sign, nil
}
