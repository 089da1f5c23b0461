package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The identity the manager runs as. 65532 is distroless's "nonroot", so the image behaves like the
// Dockerfile's gcr.io/distroless/static:nonroot one and a PodSecurity "restricted" namespace
// accepts it (runAsNonRoot needs a numeric non-zero user in the image config).
const (
	nonRootUID  = 65532
	nonRootUser = "65532:65532"
	entrypoint  = "/manager"
	// caBundlePath is where Debian, distroless and Go's crypto/x509 (first in its Linux list) look.
	caBundlePath = "/etc/ssl/certs/ca-certificates.crt"
)

// spec is everything that determines the image; equal specs and equal sources give equal digests.
type spec struct {
	Root      string        // module root, where `go build` runs
	Package   string        // the main package, ./cmd/manager
	Ref       string        // the image name, IMG
	Platforms []v1.Platform // linux/amd64, linux/arm64...
	CABundle  string        // PEM file on the build machine copied to caBundlePath
	Created   time.Time     // every timestamp in the image (SOURCE_DATE_EPOCH)
	Source    string        // org.opencontainers.image.source
	Revision  string        // org.opencontainers.image.revision; empty when unknown
	Go        string        // the go command
}

// compile cross-compiles the manager for one platform into dir and returns the binary's path.
// CGO is off so the binary is static and runs on an image without a libc.
func compile(ctx context.Context, s spec, p v1.Platform, dir string) (string, error) {
	out := filepath.Join(dir, fmt.Sprintf("manager-%s-%s%s", p.OS, p.Architecture, p.Variant))
	cmd := exec.CommandContext(ctx, s.Go, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, s.Package)
	cmd.Dir = s.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Architecture == "arm" && p.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s for %s: %w\n%s", s.Package, p.String(), err, stderr.Bytes())
	}
	return out, nil
}

// assemble builds the multi-platform index from binaries compiled for s.Platforms (same order).
func assemble(s spec, binaries []string) (v1.ImageIndex, error) {
	if len(binaries) != len(s.Platforms) {
		return nil, fmt.Errorf("%d binaries for %d platforms", len(binaries), len(s.Platforms))
	}
	base, err := baseLayer(s)
	if err != nil {
		return nil, err
	}
	labels := s.labels()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, p := range s.Platforms {
		app, err := appLayer(binaries[i], s.Created)
		if err != nil {
			return nil, err
		}
		img, err := image(s, p, labels, base, app)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", p.String(), err)
		}
		p := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.Annotations(idx, labels).(v1.ImageIndex), nil
}

func image(s spec, p v1.Platform, labels map[string]string, base, app v1.Layer) (v1.Image, error) {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: p.Architecture,
		OS:           p.OS,
		Variant:      p.Variant,
		Created:      v1.Time{Time: s.Created},
		Config: v1.Config{
			User:       nonRootUser,
			Entrypoint: []string{entrypoint},
			WorkingDir: "/",
			Labels:     labels,
		},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: s.Created}, CreatedBy: "hack/image: /etc/passwd, /etc/group, CA bundle, /tmp, /home/nonroot", Comment: "identical on every platform"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: s.Created}, CreatedBy: "hack/image: CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' " + s.Package}},
	)
}

func (s spec) labels() map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "kubepay-manager",
		"org.opencontainers.image.description": "kubepay: the PaymentOrder controller and the provider notification callback server",
		"org.opencontainers.image.source":      s.Source,
		"org.opencontainers.image.created":     s.Created.UTC().Format(time.RFC3339),
	}
	if s.Revision != "" {
		l["org.opencontainers.image.revision"] = s.Revision
	}
	if tag := refTag(s.Ref); tag != "" {
		l["org.opencontainers.image.version"] = tag
	}
	return l
}

// refTag is the tag of an image reference: registry:5000/kubepay/manager:v1.2.3 -> v1.2.3.
func refTag(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	name := ref[strings.LastIndex(ref, "/")+1:]
	if _, tag, ok := strings.Cut(name, ":"); ok {
		return tag
	}
	return ""
}

// baseLayer holds what a static Go binary still needs from a filesystem: a CA bundle for the
// providers' HTTPS APIs, passwd/group entries so 65532 has a name and a home, and a /tmp. It has no
// shell and no package manager, and does not depend on the platform, so every platform shares it.
func baseLayer(s spec) (v1.Layer, error) {
	ca, err := os.ReadFile(s.CABundle)
	if err != nil {
		return nil, fmt.Errorf("reading the CA bundle the manager needs for the providers' HTTPS APIs (install Debian's ca-certificates or pass -ca-bundle): %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", s.CABundle)
	}
	nonroot := owner{uid: nonRootUID, gid: nonRootUID}
	entries := []entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: strings.TrimPrefix(caBundlePath, "/"), mode: 0o644, data: ca},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, owner: nonroot},
		{name: "tmp/", mode: 0o1777},
	}
	return layer(entries, s.Created)
}

// appLayer holds only the manager. It belongs to root and is not writable by 65532, so the process
// cannot replace its own executable even where the root filesystem is left writable.
func appLayer(binary string, created time.Time) (v1.Layer, error) {
	b, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("reading the compiled manager: %w", err)
	}
	return layer([]entry{{name: strings.TrimPrefix(entrypoint, "/"), mode: 0o755, data: b}}, created)
}

type owner struct{ uid, gid int }

// entry is one file or, when name ends in "/", one directory.
type entry struct {
	name  string
	mode  int64
	owner owner
	data  []byte
}

// layer writes entries as a tar with every timestamp set to created and numeric owners only, so
// the bytes depend on nothing but the entries; gzip is applied by go-containerregistry and has no
// timestamp of its own.
func layer(entries []entry, created time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.owner.uid, Gid: e.owner.gid, ModTime: created}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar header for %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("tar data for %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}
