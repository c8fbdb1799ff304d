package main

// Time zones named in settings (TAPDESK_WORKING_HOURS) must load in a
// container image without the system's zoneinfo.
import _ "time/tzdata"
