package wechatpay

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
)

// algorithmAESGCM is the only resource encryption WeChat Pay API v3 uses.
const algorithmAESGCM = "AEAD_AES_256_GCM"

// gcmNonceSize is the 12-byte nonce WeChat Pay sends with each resource.
const gcmNonceSize = 12

// newAEAD builds AES-GCM for an APIv3 key. Real keys are 32 bytes (AES-256); the cipher is built
// for the key's length so that the SDK's 16-byte test vector can be checked, and New refuses
// anything but 32 bytes for real credentials.
func newAEAD(key []byte) (cipher.AEAD, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("APIv3 key has %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithNonceSize(block, gcmNonceSize)
}

// decryptResource opens a notification resource: base64 ciphertext with the 16-byte tag
// appended, the 12-byte nonce, and associated_data as additional data. A wrong key, nonce,
// associated data or a tampered ciphertext all fail the tag check.
func decryptResource(aead cipher.AEAD, nonce, associatedData, ciphertextB64 string) ([]byte, error) {
	if len(nonce) != gcmNonceSize {
		return nil, fmt.Errorf("resource nonce has %d bytes, want %d", len(nonce), gcmNonceSize)
	}
	ct, err := base64.StdEncoding.DecodeString(ciphertextB64)
	if err != nil {
		return nil, errors.New("resource ciphertext is not standard base64")
	}
	if len(ct) < aead.Overhead() {
		return nil, errors.New("resource ciphertext is shorter than the GCM tag")
	}
	plain, err := aead.Open(nil, []byte(nonce), ct, []byte(associatedData))
	if err != nil {
		return nil, errors.New("resource does not decrypt: GCM tag mismatch")
	}
	return plain, nil
}
