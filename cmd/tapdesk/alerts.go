package main

import (
	"strconv"
	"strings"

	"github.com/tapdesk/tapdesk"
)

// declareAlertSettings declares the alert rules' thresholds (serve).
func declareAlertSettings(s *settings) {
	s.str("alert-filings-per-hour", strconv.Itoa(tapdesk.DefaultAlertFilingsPerHour),
		"the security team is alerted when one agent files more requests than this within an hour")
	s.str("alert-pair-decisions-per-week", strconv.Itoa(tapdesk.DefaultAlertPairDecisionsPerWeek),
		"the security team is alerted when one approver decides more requests of one agent than this within seven days")
}

// alertSettings reads the thresholds, recording a problem for each bad one.
func alertSettings(s *settings, problems *[]string) tapdesk.AlertThresholds {
	read := func(flag string) int {
		st := s.by[flag]
		n, err := strconv.Atoi(strings.TrimSpace(st.value))
		if err != nil {
			*problems = append(*problems, st.env+": must be a whole number of 1 or more, like 10")
			return 0
		}
		if err := tapdesk.CheckAlertThreshold(st.env, n); err != nil {
			*problems = append(*problems, tapdesk.ErrorMessage(err))
		}
		return n
	}
	return tapdesk.AlertThresholds{FilingsPerHour: read("alert-filings-per-hour"), PairDecisionsPerWeek: read("alert-pair-decisions-per-week")}
}
