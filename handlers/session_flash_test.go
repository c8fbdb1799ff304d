package handlers

import (
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

// A flash cookie opens only under the key, name and lifetime it was sealed
// with, and unaltered.
func TestFlashSealer(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	f := newFlashSealer("session key of at least 32 chars..")
	v := f.seal("tapdesk_flash", "Request cancelled.", now.Add(tapdesk.FlashLifetime))
	if got := f.open("tapdesk_flash", v, now); got != "Request cancelled." {
		t.Fatalf("opened %q", got)
	}
	altered := []byte(v)
	altered[len(altered)/2] ^= 1
	for name, got := range map[string]string{
		"expired":       f.open("tapdesk_flash", v, now.Add(tapdesk.FlashLifetime)),
		"other name":    f.open("__Host-tapdesk_flash", v, now),
		"other key":     newFlashSealer("another session key of 32 chars..").open("tapdesk_flash", v, now),
		"altered":       f.open("tapdesk_flash", string(altered), now),
		"not base64":    f.open("tapdesk_flash", "%%%", now),
		"short":         f.open("tapdesk_flash", "AAAA", now),
		"empty message": f.open("tapdesk_flash", f.seal("tapdesk_flash", "", now.Add(time.Minute)), now),
	} {
		if got != "" {
			t.Errorf("%s: opened %q", name, got)
		}
	}
}
