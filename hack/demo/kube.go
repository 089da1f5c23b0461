package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// kubectl runs the kubectl hack/ built against the demo's kubeconfig.
type kubectl struct {
	bin, kubeconfig string
}

func (k kubectl) run(stdin string, args ...string) (string, error) {
	cmd := exec.Command(k.bin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// jsonpath reads one field of an object.
func (k kubectl) jsonpath(kind, name, path string) string {
	out, err := k.run("", "get", kind, name, "-n", demoNamespace, "-o", "jsonpath={"+path+"}")
	if err != nil {
		return ""
	}
	return out
}
