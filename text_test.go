package tapdesk_test

import (
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
)

func TestHiddenControls(t *testing.T) {
	refused := map[string]rune{
		"right-to-left override": 0x202E, "left-to-right embedding": 0x202A, "pop directional formatting": 0x202C,
		"first strong isolate": 0x2068, "pop directional isolate": 0x2069, "zero width space": 0x200B,
		"zero width joiner": 0x200D, "right-to-left mark": 0x200F, "word joiner": 0x2060, "invisible plus": 0x2064,
		"byte-order mark": 0xFEFF, "arabic letter mark": 0x061C, "mongolian vowel separator": 0x180E,
		"tag latin small a": 0xE0061,
	}
	for name, r := range refused {
		t.Run(name, func(t *testing.T) {
			s := "INC-47" + string(r) + "11"
			got, what, found := tapdesk.HiddenControl(s)
			if !found || got != r || what == "" {
				t.Fatalf("HiddenControl(%q) = %U %q %v", s, got, what, found)
			}
			err := tapdesk.CheckVisibleText("The ticket", s)
			if tapdesk.ErrorCode(err) != tapdesk.EINVALID || !strings.HasPrefix(tapdesk.ErrorMessage(err), "The ticket contains") {
				t.Errorf("CheckVisibleText: %v", err)
			}
			bidi := (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
			if clean := tapdesk.StripBidiControls(s); (clean == "INC-4711") != bidi {
				t.Errorf("StripBidiControls = %q", clean)
			}
		})
	}
	for _, ok := range []string{"INC-4711", "Called back +1 555 0100\nfrom HR", "سارة أحمد", "שרה כהן", "Zoë Ødegård", "日本語", "tab\there"} {
		if err := tapdesk.CheckVisibleText("The note", ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	if got := tapdesk.IsolateName("Ev\u202Eil\u2069\u200C"); got != "\u2068Evil\u200C\u2069" {
		t.Errorf("IsolateName = %q", got)
	}
}
