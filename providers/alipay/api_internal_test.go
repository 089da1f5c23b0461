package alipay

import (
	"strings"
	"testing"
)

// TestSplitResponse: the response object is taken as the exact bytes that came, whatever their
// spacing or position, and ambiguous answers are refused.
func TestSplitResponse(t *testing.T) {
	t.Parallel()
	const key = "alipay_trade_query_response"
	tests := []struct {
		name, why, body, obj, sign string
		ok                         bool
	}{
		{"usual", "object then sign", `{"alipay_trade_query_response":{"code":"10000","msg":"Success"},"sign":"c2ln"}`,
			`{"code":"10000","msg":"Success"}`, "c2ln", true},
		{"spacing and unicode kept", "the signed bytes include whitespace and raw UTF-8", "{\"alipay_trade_query_response\" : {\n  \"sub_msg\": \"交易不存在\",\"a\":\"\\u00e9\"\n} , \"sign\":\"c2ln\"}",
			"{\n  \"sub_msg\": \"交易不存在\",\"a\":\"\\u00e9\"\n}", "c2ln", true},
		{"sign first", "key order at the top level does not matter", `{"sign":"c2ln","alipay_trade_query_response":{"code":"10000"}}`, `{"code":"10000"}`, "c2ln", true},
		{"error_response", "gateway errors come under error_response", `{"error_response":{"code":"40002"}}`, `{"code":"40002"}`, "", true},
		{"method key wins over error_response", "a call's own object is the one that counts", `{"error_response":{"code":"40002"},"alipay_trade_query_response":{"code":"10000"}}`, `{"code":"10000"}`, "", true},
		{"repeated key", "a second copy could be read instead of the verified one", `{"alipay_trade_query_response":{"code":"10000"},"alipay_trade_query_response":{"code":"40004"},"sign":"x"}`, "", "", false},
		{"trailing data", "a second JSON value after the object", `{"alipay_trade_query_response":{"code":"10000"}}{}`, "", "", false},
		{"not an object", "an array is no answer", `[1]`, "", "", false},
		{"object missing", "another method's answer", `{"alipay_trade_close_response":{"code":"10000"},"sign":"x"}`, "", "", false},
		{"object is a string", "the response must be an object", `{"alipay_trade_query_response":"x"}`, "", "", false},
		{"sign is a number", "sign must be a string", `{"alipay_trade_query_response":{},"sign":1}`, "", "", false},
		{"truncated", "cut-off JSON", `{"alipay_trade_query_response":{"code":"10`, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj, sign, err := splitResponse([]byte(tc.body), key)
			if tc.ok != (err == nil) {
				t.Fatalf("%s: err = %v, want ok=%v", tc.why, err, tc.ok)
			}
			if tc.ok && (string(obj) != tc.obj || sign != tc.sign) {
				t.Errorf("%s: got %q / %q, want %q / %q", tc.why, obj, sign, tc.obj, tc.sign)
			}
			if !tc.ok && strings.Contains(err.Error(), "c2ln") {
				t.Errorf("error repeats the sign: %v", err)
			}
		})
	}
}
