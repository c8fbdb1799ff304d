package tapdesk

import "encoding/base64"

// linkTokenBytes is the randomness in an approval or dispute link token
// (mail.newToken): 256 bits, written as 43 characters of unpadded base64url.
const (
	linkTokenBytes  = 32
	LinkTokenLength = 43
)

// linkTokenEncoding refuses the non-canonical spellings (stray bits in the
// last character), so exactly one string stands for each token.
var linkTokenEncoding = base64.RawURLEncoding.Strict()

// ValidLinkToken reports whether s has the shape of a link token tapdesk
// mailed. Anything else (a mistyped, cut-short or made-up path) is refused
// as unknown without a database lookup.
func ValidLinkToken(s string) bool {
	if len(s) != LinkTokenLength {
		return false
	}
	b, err := linkTokenEncoding.DecodeString(s)
	return err == nil && len(b) == linkTokenBytes
}

// EncodeLinkToken writes 32 random bytes as a link token.
func EncodeLinkToken(b [linkTokenBytes]byte) string {
	return linkTokenEncoding.EncodeToString(b[:])
}
