package main

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// writeLayout replaces dir with an OCI image layout whose index.json points at idx under the name
// ref: "org.opencontainers.image.ref.name" is what skopeo and podman (oci:DIR:REF) select by, and
// "io.containerd.image.name" is the name `ctr images import` gives it.
func writeLayout(dir string, idx v1.ImageIndex, ref string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing the previous layout %s: %w", dir, err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("creating the OCI layout %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref,
		"io.containerd.image.name":          ref,
	})); err != nil {
		return fmt.Errorf("writing the image index into %s: %w", dir, err)
	}
	return nil
}

// writeArchive packs the layout dir into one tar (an "oci-archive", as skopeo, podman and
// `ctr images import` read it), in lexical order with fixed times and owners so that equal layouts
// give equal bytes.
func writeArchive(dir, file string, mtime time.Time) (err error) {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("creating the archive %s: %w", file, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing the archive %s: %w", file, cerr)
		}
	}()
	tw := tar.NewWriter(f)
	// WalkDir visits in lexical order, which is what makes the archive reproducible.
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Mode: 0o644, Typeflag: tar.TypeReg}
		if d.IsDir() {
			h.Name, h.Mode, h.Typeflag = h.Name+"/", 0o755, tar.TypeDir
			return tw.WriteHeader(h)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h.Size = info.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer func() { _ = src.Close() }() // read-only: the copy's error is the one that matters
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return fmt.Errorf("packing %s into %s: %w", dir, file, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing the archive %s: %w", file, err)
	}
	return nil
}
