package fakegraph

import (
	"crypto/rand"
	"math/big"
	"strings"
)

// Entra's passes mix letters, digits and symbols. The fake keeps that mix but
// leaves out characters people confuse when a pass is read over the phone
// (0/O, 1/l/I) and symbols that are hard to name.
const (
	passUpper   = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	passLower   = "abcdefghijkmnopqrstuvwxyz"
	passDigits  = "23456789"
	passSymbols = "!#%+=?@"
	passAll     = passUpper + passLower + passDigits + passSymbols
)

// generatePass returns a random pass of length characters (clamped to
// Entra's 8-48), with at least one of each character class, like Entra's.
func generatePass(length int) string {
	length = min(max(length, 8), 48)
	for {
		b := make([]byte, length)
		for i := range b {
			b[i] = passAll[randIndex(len(passAll))]
		}
		p := string(b)
		if strings.ContainsAny(p, passUpper) && strings.ContainsAny(p, passLower) &&
			strings.ContainsAny(p, passDigits) && strings.ContainsAny(p, passSymbols) {
			return p
		}
	}
}

func randIndex(n int) int {
	i, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic("fakegraph: crypto/rand: " + err.Error()) // never happens on supported platforms
	}
	return int(i.Int64())
}
