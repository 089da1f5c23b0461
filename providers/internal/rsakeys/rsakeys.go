// Package rsakeys reads the RSA keys providers are configured with and signs and verifies with
// them (SHA256withRSA, PKCS#1 v1.5: Alipay's RSA2, WeChat Pay's and the sandbox's scheme).
// Its errors describe a key's structure only, never the key, since callers put them in
// conditions.
package rsakeys

import (
	"crypto/rsa"
	"fmt"
)

// MinBits is the smallest RSA key accepted: the providers' keys are 2048 bits, and weaker keys
// are forgeable.
const MinBits = 2048

// strongEnough refuses keys under MinBits.
func strongEnough(pub *rsa.PublicKey) error {
	if bits := pub.N.BitLen(); bits < MinBits {
		return fmt.Errorf("RSA key has %d bits, at least %d are required", bits, MinBits)
	}
	return nil
}

// asRSA narrows a parsed key to the RSA type T, refusing any other algorithm.
func asRSA[T *rsa.PublicKey | *rsa.PrivateKey](key any) (T, error) {
	k, ok := key.(T)
	if !ok {
		return nil, fmt.Errorf("key is %T, want an RSA key", key)
	}
	return k, nil
}
