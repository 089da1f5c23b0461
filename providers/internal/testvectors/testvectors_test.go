package testvectors

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// providers are the providers whose tests read genuine vectors.
var providers = []Vectors{
	{Provider: "stripe", Display: "Stripe webhook"},
	{Provider: "alipay", Display: "Alipay"},
	{Provider: "wechatpay", Display: "WeChat Pay"},
}

// TestVectorsAreInsideTheRepository: a clone with nothing beside it must carry every vector its
// tests read, so no provider's directory may resolve outside the repository.
func TestVectorsAreInsideTheRepository(t *testing.T) {
	root := repoRoot()
	for _, v := range providers {
		t.Run(v.Provider, func(t *testing.T) {
			dir := v.Dir(t)
			rel, err := filepath.Rel(root, dir)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Fatalf("%s vectors are read from %s, outside the repository %s", v.Display, dir, root)
			}
			if want := filepath.Join("testdata", "vectors", v.Provider); rel != want {
				t.Errorf("%s vectors are read from %s, want %s", v.Display, rel, want)
			}
		})
	}
}

// TestManifestMatchesTheFiles: SHA256SUMS lists every vector file and each one's bytes, so an
// editor that adds or strips a trailing newline, or a checkout that rewrites line endings, shows
// up here by file name rather than as an unexplained signature failure in a provider's tests.
func TestManifestMatchesTheFiles(t *testing.T) {
	m, err := manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m) == 0 {
		t.Fatalf("%s lists no files", filepath.Join(Root(), manifestName))
	}
	var unlisted []string
	err = filepath.WalkDir(Root(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(Root(), path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if notes[filepath.Base(rel)] {
			return nil
		}
		if _, ok := m[rel]; !ok {
			unlisted = append(unlisted, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(unlisted) > 0 {
		t.Errorf("files under %s missing from %s: %s", Root(), manifestName, strings.Join(unlisted, ", "))
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(Root(), filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%s lists %s: %v", manifestName, name, err)
			continue
		}
		if err := m.check(name, b); err != nil {
			t.Error(err)
		}
	}
}

// TestEveryProviderHasItsProvenance: each provider's directory keeps the SOURCE.md that says
// where every byte came from and a NOTICE.md with the upstream licence.
func TestEveryProviderHasItsProvenance(t *testing.T) {
	for _, v := range providers {
		for _, f := range []string{"SOURCE.md", "NOTICE.md"} {
			if _, err := os.Stat(filepath.Join(Root(), v.Provider, f)); err != nil {
				t.Errorf("%s vectors have no %s: %v", v.Display, f, err)
			}
		}
	}
}
