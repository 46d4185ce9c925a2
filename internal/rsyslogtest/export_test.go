package rsyslogtest

// Unread is unread for the tests: bytes sent to a process that it has not read.
var Unread = unread
