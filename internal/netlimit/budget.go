package netlimit

import "fmt"

// Headroom kept out of the connection budget for what else needs file descriptors:
// the process's own files (lookup databases, the file sink, TLS certificates) and its
// outbound connections (Kinesis, DynamoDB, the search engine, Redis, PostgreSQL).
const (
	minHeadroom     = 256
	headroomPercent = 10
)

// maxBudget bounds the budget where the limit is huge or infinite; no process of ours
// serves more connections than that.
const maxBudget = 1 << 24

// FDBudget returns the connection budget of this process and the file-descriptor limit
// it comes from (RLIMIT_NOFILE; at start, Go raises the soft limit to the hard one on
// Linux): the limit less headroom for files and outbound connections, the larger of 256
// descriptors and a tenth of the limit, but never more than half of it. It fails where
// the limit cannot be read (systems other than Unix).
func FDBudget() (budget int, limit uint64, err error) {
	limit, err = fdLimit()
	if err != nil {
		return 0, 0, fmt.Errorf("read the file-descriptor limit: %w", err)
	}
	return budgetOf(limit), limit, nil
}

// budgetOf is the connection budget of a file-descriptor limit.
func budgetOf(limit uint64) int {
	limit = min(limit, maxBudget)
	headroom := max(minHeadroom, limit*headroomPercent/100)
	headroom = min(headroom, limit/2)
	return int(limit - headroom)
}
