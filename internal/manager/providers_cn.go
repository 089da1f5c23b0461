package manager

// The Alipay and WeChat Pay providers register themselves with the providers registry.
import (
	_ "github.com/kubepay/kubepay/providers/alipay"
	_ "github.com/kubepay/kubepay/providers/wechatpay"
)
