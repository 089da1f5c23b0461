package stripe_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepay/kubepay/internal/testenv"
)

// stripeMockModule is the stripe-mock built for these tests, from the Go module proxy.
const stripeMockModule = "github.com/stripe/stripe-mock@v0.203.0"

var stripeMock struct {
	once sync.Once
	url  string
	cmd  *exec.Cmd
	err  error
}

// stripeMockURL returns the base URL of a stripe-mock on a loopback port, building and starting
// it on first use. A missing stripe-mock fails the test: the Stripe API tests must not pass by
// not running.
func stripeMockURL(t testing.TB) string {
	t.Helper()
	stripeMock.once.Do(func() {
		stripeMock.url, stripeMock.cmd, stripeMock.err = startStripeMock()
	})
	if stripeMock.err != nil {
		t.Fatalf("stripe-mock is needed for the Stripe API tests: %v", stripeMock.err)
	}
	return stripeMock.url
}

func stopStripeMock() {
	if stripeMock.cmd != nil && stripeMock.cmd.Process != nil {
		_ = stripeMock.cmd.Process.Kill()
		_ = stripeMock.cmd.Wait()
	}
}

// buildStripeMock installs stripe-mock into <repo>/bin unless it is there already.
func buildStripeMock() (string, error) {
	binDir := filepath.Join(testenv.RepoRoot(), "bin")
	bin := filepath.Join(binDir, "stripe-mock")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", stripeMockModule)
	cmd.Env = append(os.Environ(), "GOBIN="+binDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building it with `GOBIN=%s go install %s` failed (it needs the Go module proxy, or a prebuilt binary at %s): %w\n%s", binDir, stripeMockModule, bin, err, out)
	}
	return bin, nil
}

// startStripeMock starts stripe-mock on a port the system picks and waits until it answers.
func startStripeMock() (string, *exec.Cmd, error) {
	bin, err := buildStripeMock()
	if err != nil {
		return "", nil, err
	}
	// Both listeners get a port the system picks: stripe-mock opens HTTPS on :12112 unless told
	// otherwise, even with -http-addr, and fails when another stripe-mock (another checkout's
	// tests on the same machine) holds that port.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	addr := make(chan string, 1)
	go func() {
		const prefix = "Listening for HTTP at address: "
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				addr <- strings.TrimSpace(a)
				break
			}
		}
		// Keep draining so stripe-mock never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, stdout)
	}()
	fail := func(err error) (string, *exec.Cmd, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return "", nil, fmt.Errorf("%w (stderr: %s)", err, strings.TrimSpace(stderr.String()))
	}
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		return fail(fmt.Errorf("%s did not report its listening address within 30s", bin))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := probe(base); err == nil {
			return base, cmd, nil
		} else if time.Now().After(deadline) {
			return fail(fmt.Errorf("stripe-mock at %s does not answer: %w", base, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// probe asks stripe-mock for a Checkout Session, as the tests will.
func probe(base string) error {
	req, err := http.NewRequest(http.MethodGet, base+"/v1/checkout/sessions/cs_probe", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// TestStripeMockStartsBesideAnother: the tests of two checkouts on one machine each start a
// stripe-mock; the second must not fail on a port the first holds.
func TestStripeMockStartsBesideAnother(t *testing.T) {
	// stripe-mock's default ports, held as another stripe-mock would hold them (skipped when
	// something else holds them already: the condition under test is then there anyway).
	for _, addr := range []string{":12111", ":12112"} {
		if l, err := net.Listen("tcp", addr); err == nil {
			t.Cleanup(func() { _ = l.Close() }) // only held to occupy the port
		}
	}
	base, cmd, err := startStripeMock()
	if err != nil {
		t.Fatalf("stripe-mock beside another on the default ports: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := probe(base); err != nil {
		t.Fatalf("stripe-mock at %s: %v", base, err)
	}
}
