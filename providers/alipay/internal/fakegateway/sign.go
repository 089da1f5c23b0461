package fakegateway

import (
	"crypto/rsa"
	"net/url"
	"sort"
	"strings"

	"github.com/kubepay/kubepay/providers/internal/fakekeys"
)

// Content is the string Alipay signs: sorted "k=v" pairs joined by "&", decoded values, empty
// values and sign left out, and sign_type too when withoutSignType (notifications).
func Content(v url.Values, withoutSignType bool) string {
	var names []string
	for k := range v {
		if v.Get(k) == "" || k == "sign" || (withoutSignType && k == "sign_type") {
			continue
		}
		names = append(names, k)
	}
	// Sorted by key, not by "k=v": "a-b" sorts after "a" as a key but before "a=" as a pair.
	sort.Strings(names)
	pairs := make([]string, len(names))
	for i, k := range names {
		pairs[i] = k + "=" + v.Get(k)
	}
	return strings.Join(pairs, "&")
}

// SignNotification sets sign_type and sign of a notification form, signed with key.
func SignNotification(v url.Values, key *rsa.PrivateKey) {
	v.Set("sign_type", "RSA2")
	v.Set("sign", fakekeys.Sign(key, []byte(Content(v, true))))
}
