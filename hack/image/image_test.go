package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// TestImage builds the real manager image for linux/amd64 and linux/arm64 into a temporary
// directory (not bin/image, so it proves the current sources and needs no earlier `make image`),
// then reads it back the way a registry client would: layout index, image index, manifests,
// configs and layer contents. On a cold build cache the two cross-compiles take about 6 minutes
// on 2 cores; after that, about 10 seconds.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cross-compiling the manager twice takes minutes on a cold build cache")
	}
	dir := t.TempDir()
	s := spec{
		Root:     repoRoot(),
		Package:  "./cmd/manager",
		Ref:      "example.com/kubepay/manager:v1.2.3",
		CABundle: writeTestCABundle(t, dir),
		Created:  time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC),
		Source:   "https://github.com/kubepay/kubepay",
		Revision: "0123456789abcdef0123456789abcdef01234567",
		Go:       goCommand(),
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		pl, err := v1.ParsePlatform(p)
		if err != nil {
			t.Fatal(err)
		}
		s.Platforms = append(s.Platforms, *pl)
	}
	var binaries []string
	for _, p := range s.Platforms {
		start := time.Now()
		// A bound per build, generous enough for a cold cache on a machine busy with make test.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		b, err := compile(ctx, s, p, dir)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("compiled the manager for %s in %s", p.String(), time.Since(start).Round(time.Millisecond))
		binaries = append(binaries, b)
	}

	idx, err := assemble(s, binaries)
	if err != nil {
		t.Fatalf("assembling the image: %v", err)
	}
	again, err := assemble(s, binaries)
	if err != nil {
		t.Fatalf("assembling the image a second time: %v", err)
	}
	d1, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d2, err := again.Digest(); err != nil || d1 != d2 {
		t.Errorf("the same binaries gave index %s, then %s (%v): the image is not reproducible", d1, d2, err)
	}

	layoutDir, archive := filepath.Join(dir, "layout"), filepath.Join(dir, "manager.oci.tar")
	if err := writeLayout(layoutDir, idx, s.Ref); err != nil {
		t.Fatal(err)
	}
	if err := writeArchive(layoutDir, archive, s.Created); err != nil {
		t.Fatal(err)
	}
	checkArchiveMatchesLayout(t, archive, layoutDir)

	// Everything below reads what was written to disk, not the in-memory index.
	top, err := layout.ImageIndexFromPath(layoutDir)
	if err != nil {
		t.Fatalf("reading the OCI layout %s: %v", layoutDir, err)
	}
	topManifest, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(topManifest.Manifests) != 1 {
		t.Fatalf("layout index.json lists %d entries, want the one image index", len(topManifest.Manifests))
	}
	ref := topManifest.Manifests[0]
	if got := ref.Annotations["org.opencontainers.image.ref.name"]; got != s.Ref {
		t.Errorf("layout index.json names the image %q, want IMG %q", got, s.Ref)
	}
	if ref.Digest != d1 {
		t.Errorf("layout holds index %s, want the assembled %s", ref.Digest, d1)
	}
	images, err := top.ImageIndex(ref.Digest)
	if err != nil {
		t.Fatalf("reading the image index %s from the layout: %v", ref.Digest, err)
	}
	im, err := images.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if got := im.Annotations["org.opencontainers.image.version"]; got != "v1.2.3" {
		t.Errorf("image index version annotation is %q, want the IMG tag v1.2.3", got)
	}

	platforms := []struct {
		arch    string
		machine elf.Machine
		reason  string
	}{
		{"amd64", elf.EM_X86_64, "most clusters' nodes are x86-64"},
		{"arm64", elf.EM_AARCH64, "Graviton, Ampere and Apple-silicon clusters need an aarch64 binary, not an emulated one"},
	}
	if len(im.Manifests) != len(platforms) {
		t.Errorf("image index has %d manifests, want %d (one per platform)", len(im.Manifests), len(platforms))
	}
	for _, pc := range platforms {
		t.Run(pc.arch, func(t *testing.T) {
			var desc *v1.Descriptor
			for i := range im.Manifests {
				if p := im.Manifests[i].Platform; p != nil && p.OS == "linux" && p.Architecture == pc.arch {
					desc = &im.Manifests[i]
				}
			}
			if desc == nil {
				t.Fatalf("%s: the image index has no linux/%s manifest", pc.reason, pc.arch)
			}
			img, err := images.Image(desc.Digest)
			if err != nil {
				t.Fatalf("reading the linux/%s image %s: %v", pc.arch, desc.Digest, err)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatalf("reading the linux/%s config: %v", pc.arch, err)
			}
			checkConfig(t, cfg, s, pc.arch)
			files := readFiles(t, img)
			checkFiles(t, files, s, pc.machine)
		})
	}
}

func checkConfig(t *testing.T, cfg *v1.ConfigFile, s spec, arch string) {
	t.Helper()
	checks := []struct {
		ok     bool
		reason string
	}{
		{cfg.OS == "linux" && cfg.Architecture == arch, "the config's platform matches the index entry, or runtimes refuse the image"},
		{cfg.Config.User == "65532:65532", "a numeric non-root user, so runAsNonRoot and PodSecurity restricted accept it without runAsUser"},
		{len(cfg.Config.Entrypoint) == 1 && cfg.Config.Entrypoint[0] == "/manager", "the Deployment's args are the manager's flags"},
		{len(cfg.Config.Cmd) == 0, "no default Cmd, so container args are flags and nothing else"},
		{cfg.Config.WorkingDir == "/", "the same working directory as the Dockerfile's image"},
		{cfg.Created.Time.Equal(s.Created), "the creation time comes from SOURCE_DATE_EPOCH, not the clock"},
		{cfg.Config.Labels["org.opencontainers.image.source"] == s.Source, "registries link the image to its repository"},
		{cfg.Config.Labels["org.opencontainers.image.revision"] == s.Revision, "the image names the commit it was built from"},
		{cfg.Config.Labels["org.opencontainers.image.version"] == "v1.2.3", "the version label is IMG's tag"},
		{len(cfg.RootFS.DiffIDs) == 2, "two layers: the shared base files and the manager"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("linux/%s config: %s (config %+v)", arch, c.reason, cfg.Config)
		}
	}
}

type file struct {
	hdr  *tar.Header
	data []byte
}

// readFiles reads every layer in order, the later layer's entry winning as in a container.
func readFiles(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]file{}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("layer %d: %v", i, err)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("layer %d, %s: %v", i, h.Name, err)
			}
			files[strings.TrimSuffix(h.Name, "/")] = file{hdr: h, data: b}
		}
		_ = rc.Close()
	}
	return files
}

func checkFiles(t *testing.T, files map[string]file, s spec, machine elf.Machine) {
	t.Helper()
	ca, err := os.ReadFile(s.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path   string
		mode   int64
		uid    int
		want   func(f file) bool
		reason string
	}{
		{"manager", 0o755, 0, func(f file) bool { return isStaticELF(t, f.data, machine) }, "the entrypoint is a static executable for the image's own architecture, owned by root so 65532 cannot rewrite it"},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, 0, func(f file) bool { return bytes.Equal(f.data, ca) }, "Go's crypto/x509 reads this path for the providers' HTTPS APIs"},
		{"etc/passwd", 0o644, 0, func(f file) bool { return strings.Contains(string(f.data), "nonroot:x:65532:65532:") }, "the runtime user has a name and a home"},
		{"etc/group", 0o644, 0, func(f file) bool { return strings.Contains(string(f.data), "nonroot:x:65532:") }, "the runtime group has a name"},
		{"home/nonroot", 0o700, 65532, nil, "the user's home belongs to the user"},
		{"tmp", 0o1777, 0, nil, "a world-writable sticky /tmp as on any Linux system"},
	}
	for _, c := range cases {
		f, ok := files[c.path]
		if !ok {
			t.Errorf("/%s is missing: %s", c.path, c.reason)
			continue
		}
		if f.hdr.Mode != c.mode || f.hdr.Uid != c.uid || f.hdr.Gid != c.uid {
			t.Errorf("/%s has mode %o owner %d:%d, want %o %d:%d: %s", c.path, f.hdr.Mode, f.hdr.Uid, f.hdr.Gid, c.mode, c.uid, c.uid, c.reason)
		}
		if !f.hdr.ModTime.Equal(s.Created) {
			t.Errorf("/%s has mtime %s, want SOURCE_DATE_EPOCH %s: timestamps must not depend on when the image was built", c.path, f.hdr.ModTime, s.Created)
		}
		if c.want != nil && !c.want(f) {
			t.Errorf("/%s has the wrong content: %s", c.path, c.reason)
		}
	}
	for name := range files {
		if strings.HasPrefix(name, "bin") || strings.HasPrefix(name, "usr") {
			t.Errorf("the image has /%s: it should hold no shell or tools, only the manager and its data", name)
		}
	}
}

// isStaticELF reports whether b is a 64-bit ELF executable for machine with no program
// interpreter, i.e. built with CGO off and runnable without a libc in the image.
func isStaticELF(t *testing.T, b []byte, machine elf.Machine) bool {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Errorf("/manager is not an ELF file: %v", err)
		return false
	}
	ok := true
	if f.Machine != machine || f.Class != elf.ELFCLASS64 || f.Type != elf.ET_EXEC {
		t.Errorf("/manager is %s %s %s, want %s ELFCLASS64 ET_EXEC", f.Machine, f.Class, f.Type, machine)
		ok = false
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("/manager for %s asks for a dynamic loader: it was built with cgo and will not start on the image", machine)
			ok = false
		}
	}
	return ok
}

// checkArchiveMatchesLayout proves the tarball holds the layout: same index.json, every blob.
func checkArchiveMatchesLayout(t *testing.T, archive, layoutDir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read-only: nothing to lose on close
	inArchive := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", archive, err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			inArchive[h.Name] = b
		}
	}
	err = filepath.WalkDir(layoutDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(layoutDir, path)
		want, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if got, ok := inArchive[filepath.ToSlash(rel)]; !ok || !bytes.Equal(got, want) {
			t.Errorf("%s: %s is missing or differs from the layout's", archive, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"oci-layout", "index.json"} {
		if _, ok := inArchive[name]; !ok {
			t.Errorf("%s has no %s: OCI tools cannot read it", archive, name)
		}
	}
}

func TestRefTag(t *testing.T) {
	cases := []struct {
		ref, want, reason string
	}{
		{"kubepay/manager:latest", "latest", "the Makefile's default IMG"},
		{"registry.example.com:5000/kubepay/manager:v1.2.3", "v1.2.3", "a registry port is not a tag"},
		{"registry.example.com:5000/kubepay/manager", "", "no tag at all, only a registry port"},
		{"kubepay/manager:v1@sha256:0123", "v1", "a digest after the tag is not part of it"},
	}
	for _, c := range cases {
		if got := refTag(c.ref); got != c.want {
			t.Errorf("refTag(%q) = %q, want %q: %s", c.ref, got, c.want, c.reason)
		}
	}
}

func TestBaseLayerRefusesAnEmptyCABundle(t *testing.T) {
	cases := []struct {
		name, content, reason string
	}{
		{"empty", "", "an image without roots would fail every provider call at run time, so the build must fail instead"},
		{"not PEM", "not a certificate\n", "a wrong file passed as -ca-bundle must not be shipped as the trust store"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "ca.crt")
			if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := baseLayer(spec{CABundle: p}); err == nil || !strings.Contains(err.Error(), p) {
				t.Errorf("baseLayer with a %s CA bundle: got %v, want an error naming %s: %s", c.name, err, p, c.reason)
			}
		})
	}
}

// writeTestCABundle writes a one-certificate bundle, so the test needs no CA bundle on the machine.
func writeTestCABundle(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubepay image test root"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "ca-certificates.crt")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// repoRoot is the module root, two directories above this file.
func repoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
