// Command image builds the kubepay manager image for several platforms without a container engine:
// it cross-compiles cmd/manager, puts it on a minimal non-root filesystem and writes a
// multi-platform OCI image index as an OCI layout directory and as one oci-archive tarball.
//
// The Dockerfile builds the same image on distroless for those who have Docker; this is the path
// for CI and machines without a Docker engine. Push the result with any OCI tool, e.g.
// `skopeo copy --all oci:bin/image/layout:IMG docker://IMG` or `crane push bin/image/layout IMG`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run() error {
	var s spec
	var platforms, out string
	flag.StringVar(&s.Ref, "img", "kubepay/manager:latest", "Image name recorded in the layout's index.json (the Makefile's IMG).")
	flag.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "Comma-separated OS/ARCH[/VARIANT] list to build for.")
	flag.StringVar(&out, "out", "bin/image", "Directory for layout/ (OCI image layout) and manager.oci.tar (the same, as one tarball).")
	flag.StringVar(&s.CABundle, "ca-bundle", caBundlePath, "PEM CA bundle copied into the image for the providers' HTTPS APIs.")
	flag.StringVar(&s.Source, "source", "https://github.com/kubepay/kubepay", "org.opencontainers.image.source label.")
	flag.StringVar(&s.Package, "package", "./cmd/manager", "Main package to build.")
	flag.Parse()
	s.Root, s.Go = ".", goCommand()

	for _, p := range strings.Split(platforms, ",") {
		pl, err := v1.ParsePlatform(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("-platforms %q: %w", platforms, err)
		}
		s.Platforms = append(s.Platforms, *pl)
	}
	created, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	s.Created = created
	s.Revision = gitRevision(s.Root)

	start := time.Now()
	ctx := context.Background()
	work, err := os.MkdirTemp("", "kubepay-image-")
	if err != nil {
		return err
	}
	// A temporary build directory left behind wastes disk but breaks nothing.
	defer func() { _ = os.RemoveAll(work) }()
	var binaries []string
	for _, p := range s.Platforms {
		t := time.Now()
		bin, err := compile(ctx, s, p, work)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "image: compiled %s for %s in %s\n", s.Package, p.String(), time.Since(t).Round(100*time.Millisecond))
		binaries = append(binaries, bin)
	}
	idx, err := assemble(s, binaries)
	if err != nil {
		return err
	}
	layoutDir, archive := filepath.Join(out, "layout"), filepath.Join(out, "manager.oci.tar")
	if err := writeLayout(layoutDir, idx, s.Ref); err != nil {
		return err
	}
	if err := writeArchive(layoutDir, archive, s.Created); err != nil {
		return err
	}
	return report(idx, s, layoutDir, archive, time.Since(start))
}

// report prints what was built: one line per platform with its manifest digest and the size a
// node pulls (the compressed layers and the config).
func report(idx v1.ImageIndex, s spec, layoutDir, archive string, took time.Duration) error {
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	fmt.Printf("%s  index %s  (%d platforms, %s)\n", s.Ref, d, len(m.Manifests), took.Round(100*time.Millisecond))
	for _, desc := range m.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return err
		}
		man, err := img.Manifest()
		if err != nil {
			return err
		}
		pull := man.Config.Size
		for _, l := range man.Layers {
			pull += l.Size
		}
		fmt.Printf("  %-14s %s  %.1f MiB compressed\n", desc.Platform.String(), desc.Digest, float64(pull)/(1<<20))
	}
	fi, err := os.Stat(archive)
	if err != nil {
		return err
	}
	fmt.Printf("  layout  %s\n  archive %s (%.1f MiB)\n", layoutDir, archive, float64(fi.Size())/(1<<20))
	return nil
}

// sourceDateEpoch is the time stamped everywhere in the image: SOURCE_DATE_EPOCH when set (the
// Makefile sets the last commit's time), else the Unix epoch, never the clock, so rebuilding the
// same sources gives the same digests.
func sourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds: %w", v, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// gitRevision is the commit being built, or "" outside a git checkout (a source tarball).
func gitRevision(dir string) string {
	cmd := exec.Command("git", "rev-parse", "HEAD")
	cmd.Dir = dir
	b, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func goCommand() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}
