package controllers

// The manager's permissions, exactly what the controller and the callback server use. Secrets are
// read-only and, through the cache's label selector, only those labelled kubepay.io/credentials=true
// are ever listed into memory. Leases: get, create and delete, for the out_trade_no and refund number
// claims (owned by their objects, except a ClusterPaymentProvider's, which live in the manager's
// namespace and are deleted by the finalizers or, for deleted holders, swept by housekeeping, which
// lists them). Orders and refunds: delete, for retention only (settled ones, past their TTL).

// +kubebuilder:rbac:groups=kubepay.io,resources=paymentorders,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=kubepay.io,resources=paymentorders/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubepay.io,resources=paymentorders/finalizers,verbs=update
// +kubebuilder:rbac:groups=kubepay.io,resources=paymentrefunds,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=kubepay.io,resources=paymentrefunds/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubepay.io,resources=paymentrefunds/finalizers,verbs=update
// +kubebuilder:rbac:groups=kubepay.io,resources=paymentproviders,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=kubepay.io,resources=paymentproviders/finalizers,verbs=update
// +kubebuilder:rbac:groups=kubepay.io,resources=paymentproviders/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;create;delete
// +kubebuilder:rbac:groups=kubepay.io,resources=clusterpaymentproviders,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=kubepay.io,resources=clusterpaymentproviders/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubepay.io,resources=clusterpaymentproviders/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
