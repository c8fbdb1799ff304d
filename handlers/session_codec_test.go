package handlers

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/signin"
)

// Every type tapdesk puts in a session decodes to the same value; sessions
// written by the gob codec still load; a type the codec does not know is
// still kept, by gob.
func TestSessionCodec(t *testing.T) {
	at := time.Date(2026, 11, 28, 9, 30, 15, 123456789, time.UTC)
	deadline := at.Add(8 * time.Hour)
	values := map[string]any{
		sessPrincipal: tapdesk.Principal{TenantID: "t", ObjectID: "o", UPN: "a@x", Name: "Alex <Agent> \u202e",
			Email: "a@x", Roles: []tapdesk.Role{tapdesk.RoleRequester, tapdesk.RoleApprover}, AuthTime: at, MFA: true},
		sessTimes:       sessionTimes{SignedIn: at, LastSeen: at.Add(time.Minute)},
		sessIDToken:     "eyJ.token.sig",
		sessPending:     signin.Pending{State: "s", Nonce: "n", Verifier: "v", Next: "/requests/1?x=1&y=2", MaxAge: 300, Created: at},
		"flash":         "Request filed.",
		sessAfterSignIn: "",
	}
	var c sessionCodec
	t.Run("round trip", func(t *testing.T) {
		b, err := c.Encode(deadline, values)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, sessionJSONPrefix) {
			t.Fatalf("not written as JSON: %q", b)
		}
		gotDeadline, got, err := c.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !gotDeadline.Equal(deadline) || !reflect.DeepEqual(got, values) {
			t.Errorf("decoded %v %#v, want %v %#v", gotDeadline, got, deadline, values)
		}
	})
	t.Run("gob data written before", func(t *testing.T) {
		b, err := scs.GobCodec{}.Encode(deadline, values)
		if err != nil {
			t.Fatal(err)
		}
		gotDeadline, got, err := c.Decode(b)
		if err != nil || !gotDeadline.Equal(deadline) || !reflect.DeepEqual(got, values) {
			t.Errorf("decoded %v %#v (%v), want %v %#v", gotDeadline, got, err, deadline, values)
		}
	})
	t.Run("other types go by gob", func(t *testing.T) {
		other := map[string]any{"n": 42, sessIDToken: "tok"}
		b, err := c.Encode(deadline, other)
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Decode(b)
		if err != nil || bytes.HasPrefix(b, sessionJSONPrefix) || !reflect.DeepEqual(got, other) {
			t.Errorf("decoded %#v (%v), want %#v by gob", got, err, other)
		}
	})
}
