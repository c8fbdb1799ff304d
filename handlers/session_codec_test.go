package handlers

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"
	"time"

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
		b, err := gobSession{}.encode(deadline, values)
		if err != nil {
			t.Fatal(err)
		}
		gotDeadline, got, err := c.Decode(b)
		if err != nil || !gotDeadline.Equal(deadline) || !reflect.DeepEqual(got, values) {
			t.Errorf("decoded %v %#v (%v), want %v %#v", gotDeadline, got, err, deadline, values)
		}
	})
	t.Run("gob data as scs wrote it", func(t *testing.T) {
		// scs v2.9.0's GobCodec.Encode of these values, before tapdesk
		// kept its sessions itself: such rows still open after an upgrade.
		b, err := hex.DecodeString("257f030102ff800001020108446561646c696e6501ff8200010656616c75657301ff8400000010ff810501010454696d" +
			"6501ff8200000027ff83040101176d61705b737472696e675d696e74657266616365207b7d01ff8400010c01100000ff" +
			"c7ff80010f010000000ee29f5c4000000000ffff010305666c61736806737472696e670c07000568656c6c6f09707269" +
			"6e636970616c246769746875622e636f6d2f7461706465736b2f7461706465736b2e5072696e636970616cff85030101" +
			"095072696e636970616c01ff86000108010854656e616e744944010c0001084f626a6563744944010c00010355504e01" +
			"0c0001044e616d65010c000105456d61696c010c000105526f6c657301ff880001084175746854696d6501ff82000103" +
			"4d464101020000001cff870201010e5b5d7461706465736b2e526f6c6501ff8800010c0000ff8eff8616030361406203" +
			"010d5461702e526571756573746572000d73657373696f6e5f74696d6573306769746875622e636f6d2f746170646573" +
			"6b2f7461706465736b2f68616e646c6572732e73657373696f6e54696d6573ff890301010c73657373696f6e54696d65" +
			"7301ff8a00010201085369676e6564496e01ff820001084c6173745365656e01ff8200000027ff8a23010f010000000e" +
			"e29f5c4000000000ffff010f010000000ee29f5c4000000000ffff0000")
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
		want := map[string]any{"flash": "hello", sessPrincipal: tapdesk.Principal{UPN: "a@b", Roles: []tapdesk.Role{tapdesk.RoleRequester}},
			sessTimes: sessionTimes{SignedIn: at, LastSeen: at}}
		gotDeadline, got, err := c.Decode(b)
		if err != nil || !gotDeadline.Equal(at) || !reflect.DeepEqual(got, want) {
			t.Errorf("decoded %v %#v (%v), want %v %#v", gotDeadline, got, err, at, want)
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
