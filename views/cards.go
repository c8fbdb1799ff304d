package views

// cardColumns are the columns of a card table (cardTable): their headings
// on wide screens, and the label each cell shows before its value when the
// table becomes a list of cards on a phone. The labels are in static/app.css
// under the set's class (table.<class> td:nth-child(n)::before), written
// once for every row instead of a data-label on every cell of every row;
// TestCardLabelsInCSS keeps the two in step.
type cardColumns struct {
	class string
	cols  []cardColumn
}

// cardColumn is one column: its heading, and its label on a phone when the
// heading is too long for the card's label column ("" : the heading).
type cardColumn struct {
	Head, Label string
}

func (c cardColumn) label() string {
	if c.Label != "" {
		return c.Label
	}
	return c.Head
}

// The column sets of the card tables. The request lists share their first
// three columns and differ in the last two (rowTable's kinds).
var (
	requestColumns = []cardColumn{{Head: "User"}, {Head: "Ticket"}, {Head: "Agent"}}

	readyColumns    = cardColumns{"cols-ready", append(requestColumns[:3:3], cardColumn{Head: "Issue by"}, cardColumn{Head: "Next step"})}
	dueColumns      = cardColumns{"cols-due", append(requestColumns[:3:3], cardColumn{Head: "Filed"}, cardColumn{Head: "Deadline"})}
	decidedColumns  = cardColumns{"cols-decided", append(requestColumns[:3:3], cardColumn{Head: "Your decision"}, cardColumn{Head: "State now"})}
	requestsColumns = cardColumns{"cols-requests", append(requestColumns[:3:3], cardColumn{Head: "Filed"}, cardColumn{Head: "State"})}

	activityColumns = cardColumns{"cols-activity", []cardColumn{{Head: "Activity"}, {Head: "When"}, {Head: "By"}, {Head: "Target"}}}
	alertColumns    = cardColumns{"cols-alerts", []cardColumn{{Head: "Rule"}, {Head: "Who or what"}, {Head: "When"}, {Head: "What happened"}, {Head: "Evidence"}}}
	outsideColumns  = cardColumns{"cols-outside", []cardColumn{{Head: "User"}, {Head: "Made by"}, {Head: "When"}, {Head: "Now"}}}
	jobColumns      = cardColumns{"cols-jobs", []cardColumn{{Head: "Job"}, {Head: "Last run on this instance", Label: "Last run"}, {Head: "Acted on"}}}
)

// cardColumnSets are every set, for the test that reads app.css.
var cardColumnSets = []cardColumns{readyColumns, dueColumns, decidedColumns, requestsColumns,
	activityColumns, alertColumns, outsideColumns, jobColumns}

// rowColumns is the column set of a request list of kind (rowTable).
func rowColumns(kind string) cardColumns {
	switch kind {
	case "ready":
		return readyColumns
	case "due":
		return dueColumns
	case "decided":
		return decidedColumns
	}
	return requestsColumns
}

// ISOMinute is the layout of the datetime for a <time> in a list row: RFC 3339 to the
// minute (the row shows minutes; app.js reads it with Date.parse).
const ISOMinute = "2006-01-02T15:04Z07:00"
