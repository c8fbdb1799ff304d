package handlers

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
)

// The flash (a one-line message shown once, on the page after a redirect)
// travels in a cookie of its own instead of the session: kept in the
// session it cost two session writes, one to put it and one to drop it when
// shown, each a turn of the database's single writer on the way of every
// filing, decision and issue. The cookie is sealed with AES-GCM under a key
// derived from the session key, so it cannot be forged, altered or read;
// it names its own expiry (tapdesk.FlashLifetime) so a copy cannot be replayed
// later; the page that shows it deletes it, so it is shown once.
const flashCookie = "tapdesk_flash"

// flashSealer seals and opens flash cookies.
type flashSealer struct{ aead cipher.AEAD }

func newFlashSealer(sessionKey string) *flashSealer {
	return &flashSealer{aead: sealingKey("tapdesk flash v1", sessionKey)}
}

// sealingKey is AES-256-GCM under a key derived from tapdesk's session
// secret for one use (label), so a value sealed for one use never opens
// as another's.
func sealingKey(label, sessionKey string) cipher.AEAD {
	sum := sha256.Sum256([]byte(label + "\x00" + sessionKey))
	block, err := aes.NewCipher(sum[:])
	if err != nil {
		panic(err) // 32-byte key: cannot fail
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// seal is msg as a cookie value that opens until expires. The cookie's
// name is bound in, so the value does not open as another cookie.
func (f *flashSealer) seal(name, msg string, expires time.Time) string {
	plain := make([]byte, 8, 8+len(msg))
	binary.BigEndian.PutUint64(plain, uint64(expires.Unix()))
	plain = append(plain, msg...)
	out := make([]byte, f.aead.NonceSize(), f.aead.NonceSize()+len(plain)+f.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		panic(err) // crypto/rand does not fail
	}
	out = f.aead.Seal(out, out, plain, []byte(name))
	return base64.RawURLEncoding.EncodeToString(out)
}

// open is the message of a value seal made, or "" if the value was not
// made by seal under this key and name, or has expired at now.
func (f *flashSealer) open(name, value string, now time.Time) string {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	n := f.aead.NonceSize()
	if err != nil || len(raw) < n+8+f.aead.Overhead() {
		return ""
	}
	plain, err := f.aead.Open(nil, raw[:n], raw[n:], []byte(name))
	if err != nil || len(plain) < 8 {
		return ""
	}
	if exp := time.Unix(int64(binary.BigEndian.Uint64(plain)), 0); !now.Before(exp) {
		return ""
	}
	return string(plain[8:])
}

// flashOut is the flash a request set, written as a cookie just before the
// answer's header goes out unless a page of this same request showed it.
type flashOut struct {
	msg   string
	shown bool
}

// flashSealer is the sealer of the session store, nil when the sessions
// are kept some other way (the flash then stays in the session).
func (h *Handler) flashSealer() *flashSealer {
	if h.sessions == nil || h.sessions.store == nil {
		return nil
	}
	return h.sessions.store.flashes
}

func (h *Handler) flashCookieName() string {
	if h.cfg.SecureCookies {
		return "__Host-" + flashCookie
	}
	return flashCookie
}

// flash shows a one-line message on the next page (or on this request's
// own page, if it draws one).
func (h *Handler) flash(c echo.Context, msg string) {
	fs := h.flashSealer()
	if fs == nil || len(msg) > tapdesk.FlashMaxCookieBytes {
		h.sessions.Put(c.Request().Context(), "flash", msg)
		return
	}
	st := stateOf(c)
	if out := st.flash; out != nil {
		out.msg, out.shown = msg, false
		return
	}
	out := &flashOut{msg: msg}
	st.flash = out
	res := c.Response()
	res.Before(func() {
		if out.shown || out.msg == "" {
			return
		}
		now := h.now()
		expires := now.Add(tapdesk.FlashLifetime)
		name := h.flashCookieName()
		http.SetCookie(res, &http.Cookie{Name: name, Value: fs.seal(name, out.msg, expires), Path: "/", Expires: expires,
			MaxAge: int(tapdesk.FlashLifetime / time.Second), Secure: h.cfg.SecureCookies, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	})
}

// takeFlash is the flash to show on this request's page, dropped as it is
// shown: one this request set, else the cookie's (deleted in the answer),
// else one kept in the session.
func (h *Handler) takeFlash(c echo.Context) string {
	msg := h.sessions.PopString(c.Request().Context(), "flash")
	fs := h.flashSealer()
	if fs == nil {
		return msg
	}
	name := h.flashCookieName()
	if v, ok := cookieValue(c.Request(), name); ok {
		if m := fs.open(name, v, h.now()); m != "" {
			msg = m
		}
		http.SetCookie(c.Response(), &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
			Secure: h.cfg.SecureCookies, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	if out := stateOf(c).flash; out != nil && !out.shown && out.msg != "" {
		out.shown = true
		msg = out.msg
	}
	return msg
}

// hasCookie says whether r may carry a cookie named name, without parsing
// its cookies.
func hasCookie(r *http.Request, name string) bool {
	for _, line := range r.Header["Cookie"] {
		if strings.Contains(line, name+"=") {
			return true
		}
	}
	return false
}

// dropFlash expires a flash cookie the browser may hold and forgets one
// this request set: the session it was for has ended.
func (h *Handler) dropFlash(c echo.Context) {
	if out := stateOf(c).flash; out != nil {
		out.msg = ""
	}
	if h.flashSealer() == nil || !hasCookie(c.Request(), h.flashCookieName()) {
		return
	}
	http.SetCookie(c.Response(), &http.Cookie{Name: h.flashCookieName(), Value: "", Path: "/", MaxAge: -1,
		Secure: h.cfg.SecureCookies, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}
