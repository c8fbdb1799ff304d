package signin

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tapdesk/tapdesk"
)

// claims are the ID token claims tapdesk reads. The list-valued ones are
// decoded leniently: one odd entry should drop that entry, not the sign-in.
type claims struct {
	TenantID          string      `json:"tid"`
	ObjectID          string      `json:"oid"`
	PreferredUsername string      `json:"preferred_username"`
	Name              string      `json:"name"`
	Email             string      `json:"email"`
	Roles             stringList  `json:"roles"`
	Groups            stringList  `json:"groups"`
	AMR               stringList  `json:"amr"`
	AuthTime          numericDate `json:"auth_time"`
}

// principal maps claims to a Principal. Roles come from the roles claim (app
// roles) and from group membership through groupRoles; unknown role names
// are dropped, and the result is in tapdesk.AllRoles order without repeats.
//
// A groups overage (more than 200 groups: Entra sends _claim_names instead
// of groups) yields no group roles; app roles avoid that limit.
func (c claims) principal(groupRoles map[string]tapdesk.Role) tapdesk.Principal {
	held := map[tapdesk.Role]bool{}
	for _, r := range c.Roles {
		held[tapdesk.Role(r)] = true
	}
	for _, g := range c.Groups {
		if r, ok := groupRoles[g]; ok {
			held[r] = true
		}
	}
	var roles []tapdesk.Role
	for _, r := range tapdesk.AllRoles {
		if held[r] {
			roles = append(roles, r)
		}
	}
	return tapdesk.Principal{
		TenantID: c.TenantID,
		ObjectID: c.ObjectID,
		UPN:      c.PreferredUsername,
		Name:     c.Name,
		Email:    c.Email,
		Roles:    roles,
		AuthTime: time.Time(c.AuthTime),
		// Entra often leaves amr out of v2.0 ID tokens, so a missing amr
		// reads as "no MFA"; Conditional Access on the app registration is
		// what really enforces MFA.
		MFA: slices.Contains(c.AMR, "mfa"),
	}
}

// stringList accepts a JSON array (keeping only its strings), a single
// string, or null.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []any
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings, got %s", b)
	}
	*l = nil
	for _, v := range many {
		if s, ok := v.(string); ok {
			*l = append(*l, s)
		}
	}
	return nil
}

// numericDate is a JWT NumericDate: seconds since the epoch, possibly
// fractional. Absent or null leaves the zero time.
type numericDate time.Time

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("want seconds since the epoch, got %s", b)
	}
	if secs <= 0 || math.IsInf(secs, 0) || secs > 1e11 {
		return fmt.Errorf("time %s out of range", b)
	}
	whole, frac := math.Modf(secs)
	*d = numericDate(time.Unix(int64(whole), int64(frac*1e9)).UTC())
	return nil
}
