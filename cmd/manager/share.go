package main

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubepay/kubepay/internal/shard"
)

// parseShare reads --watch-namespaces and --watch-label-selector.
func parseShare(namespaces, selector string) (shard.Share, error) {
	var s shard.Share
	for _, ns := range strings.Split(namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			s.Namespaces = append(s.Namespaces, ns)
		}
	}
	if selector != "" {
		sel, err := labels.Parse(selector)
		if err != nil {
			return s, fmt.Errorf("--watch-label-selector %q: %w", selector, err)
		}
		s.Selector = sel
	}
	return s, nil
}
