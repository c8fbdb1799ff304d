package pagezip

import (
	"bytes"
	"hash/crc32"

	"github.com/klauspost/compress/flate"
)

// Cut is a page cut at the one place its varying string stands, deflated
// once: it goes out again with another string in that place without the
// page being put together, compared with the one kept, deflated or
// checksummed again. The work per response is copying the deflated pieces
// and a few dozen shifts for the CRC-32 (combine).
type Cut struct {
	deflated            [2][]byte // before and after, each ending in a sync flush
	crcBefore, crcAfter uint32
	lenBefore, lenAfter int
	afterOp             uint32 // x^(8·lenAfter) mod the polynomial (combine)
}

// NewCut deflates the page's text before and after its varying string.
func NewCut(before, after string) *Cut {
	return &Cut{
		deflated:  [2][]byte{deflate([]byte(before)), deflate([]byte(after))},
		crcBefore: crc32.ChecksumIEEE([]byte(before)), crcAfter: crc32.ChecksumIEEE([]byte(after)),
		lenBefore: len(before), lenAfter: len(after),
		afterOp: shiftOp(len(after)),
	}
}

// Size is the bytes the cut holds.
func (k *Cut) Size() int { return len(k.deflated[0]) + len(k.deflated[1]) }

// Write appends the page with vary in its place to dst, as one gzip
// member.
func (k *Cut) Write(dst *bytes.Buffer, vary string) {
	crc := combine(updateString(k.crcBefore, vary), k.crcAfter, k.afterOp)
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

// combine is the CRC-32 of a text whose first part has crc1 and whose
// second part has crc2, op being shiftOp of the second part's length.
func combine(crc1, crc2, op uint32) uint32 {
	return multModP(op, crc1) ^ crc2
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
