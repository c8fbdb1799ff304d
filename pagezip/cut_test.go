package pagezip

import (
	"bytes"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestCombine checks the CRC-32 of two texts put together against the
// standard library's, over lengths that take every bit of shiftOp.
func TestCombine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	text := make([]byte, 70_000)
	for i := range text {
		text[i] = byte(r.Uint32())
	}
	for _, n := range []int{0, 1, 2, 3, 7, 8, 255, 256, 1000, 4096, 18646, 65535, 70_000} {
		for _, cut := range []int{0, 1, n / 3, n - 1, n} {
			if cut < 0 || cut > n {
				continue
			}
			a, b := text[:cut], text[cut:n]
			got := newShiftTable(shiftOp(len(b))).times(crc32.ChecksumIEEE(a)) ^ crc32.ChecksumIEEE(b)
			if want := crc32.ChecksumIEEE(text[:n]); got != want {
				t.Errorf("%d bytes cut at %d: combined %08x, want %08x", n, cut, got, want)
			}
		}
	}
}

// TestShiftTable: the table's product is multModP's, for ops of every
// length TestCombine takes and values with every bit and byte set.
func TestShiftTable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 22, 255, 4096, 18646, 70_000} {
		op := shiftOp(n)
		tab := newShiftTable(op)
		values := []uint32{0, 1, 0x80, 0x100, 0x8000_0000, 0xffff_ffff, 0x0102_0304}
		for range 1000 {
			values = append(values, r.Uint32())
		}
		for _, b := range values {
			if got, want := tab.times(b), multModP(op, b); got != want {
				t.Fatalf("x^(8·%d) · %08x: table %08x, multModP %08x", n, b, got, want)
			}
		}
	}
}

// TestCutRoundTrips reads what a Cut writes with the standard library's
// gzip reader (which checks the CRC-32 and length), for nonces at the
// start, in the middle and at the end of a page.
func TestCutRoundTrips(t *testing.T) {
	rows := strings.Repeat(`<tr><td><a href="/requests/x">Nina Newhire</a></td><td>INC-4711</td></tr>`, 40)
	for _, tc := range []struct{ name, before, after string }{
		{"a page", `<!doctype html><script nonce="`, `"></script>` + rows},
		{"at the start", "", rows},
		{"at the end", rows, ""},
		{"nothing around it", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := NewCut(tc.before, tc.after)
			// The last is longer than a stored block holds.
			for _, vary := range []string{"tvyoT6hUxE0EmUrbXyqf9A", "another-nonce-entirely", "", strings.Repeat("v", 70_000)} {
				var dst bytes.Buffer
				k.Write(&dst, vary)
				want := tc.before + vary + tc.after
				if got := gunzip(t, dst.Bytes()); string(got) != want {
					t.Fatalf("with %q: gunzipped %q, want %q", vary, got, want)
				}
				// The varying string goes out stored, the rest deflated.
				if rest := len(want) - len(vary); rest > 1000 && dst.Len()-len(vary) > rest/4 {
					t.Errorf("%d bytes around %d stored compressed to %d", rest, len(vary), dst.Len())
				}
			}
		})
	}
}

// TestCutIsWhatWriteSends: a Cut sends the same bytes as the cache does for
// the page put together, so the two paths never differ for a client.
func TestCutIsWhatWriteSends(t *testing.T) {
	before, after := `<!doctype html><script nonce="`, `"></script>`+strings.Repeat("<li>row</li>", 300)
	var a, b bytes.Buffer
	NewCut(before, after).Write(&a, "N0NCE")
	NewCache(8, 1<<20).Write(&b, "k", []byte(before+"N0NCE"+after), "N0NCE")
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("a Cut wrote %d bytes, the cache %d, and they differ", a.Len(), b.Len())
	}
}

func BenchmarkCutWrite(b *testing.B) {
	rows := strings.Repeat(`<tr><td><a href="/requests/x">Nina Newhire</a></td><td>INC-4711</td></tr>`, 250)
	k := NewCut(`<!doctype html><script nonce="`, `"></script>`+rows)
	var dst bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		dst.Reset()
		k.Write(&dst, "tvyoT6hUxE0EmUrbXyqf9A")
	}
}
