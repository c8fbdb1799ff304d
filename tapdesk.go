// Package tapdesk is the domain of the portal: requests for Temporary Access
// Passes, their approvals and audit events, the state machine they move
// through and the separation-of-duty rules around them. It does no I/O; the
// store, the Graph adapter, sign-in and mail live in packages named after what
// they wrap.
package tapdesk

import "time"

// Clock returns the current time. Services take one so tests can fix time.
type Clock func() time.Time
