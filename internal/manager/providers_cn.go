package manager

import (
	// The Alipay and WeChat Pay providers register themselves with the providers registry when
	// imported; the manager needs nothing else from them.
	_ "github.com/kubepay/kubepay/providers/alipay"
	_ "github.com/kubepay/kubepay/providers/wechatpay"
)
