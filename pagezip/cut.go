package pagezip

import (
	"bytes"
	"hash/crc32"

	"github.com/klauspost/compress/flate"
)

// Cut is a page cut at the one place its varying string stands, deflated
// once: it goes out again with another string in that place without the
// page being put together, compared with the one kept, deflated or
// checksummed again. The work per response is copying the deflated pieces,
// the CRC-32 of the varying string and four table lookups to put the
// CRC-32s together (shiftTable).
type Cut struct {
	deflated            [2][]byte // before and after, each ending in a sync flush
	crcBefore, crcAfter uint32
	lenBefore, lenAfter int
	afterShift          *shiftTable // multiplies by x^(8·lenAfter) mod the polynomial
}

// NewCut deflates the page's text before and after its varying string.
func NewCut(before, after string) *Cut {
	return &Cut{
		deflated:  [2][]byte{deflate([]byte(before)), deflate([]byte(after))},
		crcBefore: crc32.ChecksumIEEE([]byte(before)), crcAfter: crc32.ChecksumIEEE([]byte(after)),
		lenBefore: len(before), lenAfter: len(after),
		afterShift: newShiftTable(shiftOp(len(after))),
	}
}

// Size is the bytes the cut holds.
func (k *Cut) Size() int { return len(k.deflated[0]) + len(k.deflated[1]) + shiftTableSize }

// Write appends the page with vary in its place to dst, as one gzip
// member.
func (k *Cut) Write(dst *bytes.Buffer, vary string) {
	crc := k.afterShift.times(updateString(k.crcBefore, vary)) ^ k.crcAfter
	member(dst, k.deflated[:], vary, crc, k.lenBefore+len(vary)+k.lenAfter)
}

// deflate is p deflated, ending in a sync flush (byte-aligned, not final).
func deflate(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	var b bytes.Buffer
	w := writers.Get().(*flate.Writer)
	w.Reset(&b)
	_, _ = w.Write(p) // a bytes.Buffer takes every write
	_ = w.Flush()
	writers.Put(w)
	return b.Bytes()
}

// updateString is crc32.Update for a short string, a byte at a time:
// crc32.Update would take a []byte(s) of its own to the heap.
func updateString(crc uint32, s string) uint32 {
	crc = ^crc
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}

// The CRC-32 of two texts one after the other, from the CRC-32 of each and
// the length of the second, as zlib's crc32_combine: appending n bytes
// multiplies the first text's remainder by x^(8n), modulo the CRC's
// polynomial, in the reflected bit order crc32.IEEE uses.

// shiftTable multiplies by one op (multModP(op, b)) in four lookups: the
// product is linear in b over GF(2), so it is the sum (xor) of the
// products of b's four bytes, each in its place, looked up. multModP
// takes up to 32 rounds of shifts and branches; a Cut multiplies by the
// same op on every response.
type shiftTable [4][256]uint32

// shiftTableSize is the bytes a shiftTable holds.
const shiftTableSize = 4 * 256 * 4

func newShiftTable(op uint32) *shiftTable {
	t := new(shiftTable)
	for k := range 4 {
		// Each entry is the sum of the products of its bits: the entry
		// without its lowest bit, plus that bit's product.
		for v := 1; v < 256; v++ {
			low := v & -v
			t[k][v] = t[k][v&^low] ^ multModP(op, uint32(low)<<(8*k))
		}
	}
	return t
}

// times is multModP(op, b) for the table's op.
func (t *shiftTable) times(b uint32) uint32 {
	return t[0][byte(b)] ^ t[1][byte(b>>8)] ^ t[2][byte(b>>16)] ^ t[3][byte(b>>24)]
}

// shiftOp is x^(8n) modulo the polynomial.
func shiftOp(n int) uint32 {
	p := uint32(1) << 31 // x^0
	for k := 3; n > 0; n, k = n>>1, k+1 {
		if n&1 != 0 {
			p = multModP(x2n[k&31], p)
		}
	}
	return p
}

// multModP is a·b modulo the polynomial.
func multModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		if b&1 != 0 {
			b = b>>1 ^ crc32.IEEE
		} else {
			b >>= 1
		}
	}
	return p
}

// x2n[k] is x^(2^k) modulo the polynomial.
var x2n = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	t[0] = p
	for k := 1; k < 32; k++ {
		p = multModP(p, p)
		t[k] = p
	}
	return t
}()
