package static

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"path"
	"testing"
)

// pageWeightBudget is what every page may cost in stylesheet and script,
// gzipped, all files together (issue 12): a phone on a weak connection
// gets the whole design at once.
const pageWeightBudget = 30 * 1024

// TestPageWeightBudget fails when the embedded CSS and JS, each gzipped
// as served, add up to more than the budget. Files too small to be
// served compressed are counted gzipped anyway, so the sum is the
// compressed weight of the content.
func TestPageWeightBudget(t *testing.T) {
	total, plain := 0, 0
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := path.Ext(name); ext != ".css" && ext != ".js" {
			return nil
		}
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		t.Logf("%s: %d bytes, %d gzipped", name, len(b), buf.Len())
		total += buf.Len()
		plain += len(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if plain == 0 {
		t.Fatal("no CSS or JS embedded")
	}
	t.Logf("CSS + JS: %d bytes, %d gzipped (budget %d)", plain, total, pageWeightBudget)
	if total > pageWeightBudget {
		t.Errorf("CSS + JS weigh %d bytes gzipped, over the budget of %d", total, pageWeightBudget)
	}
}
