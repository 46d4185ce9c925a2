package console

import "context"

// Playground runs pasted lines through a pipeline, explaining what each processor did:
// cmd/sluice implements it with the process's own pipelines and lookups.
type Playground interface {
	// Pipelines lists the pipelines one can choose, by name.
	Pipelines() []PipelineInfo
	// Run runs req (its limits checked) and returns each line's result.
	Run(ctx context.Context, req PlaygroundRequest) (*PlaygroundResult, error)
}

// PipelineInfo is one pipeline the playground can run.
type PipelineInfo struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// YAML is the pipeline's definition, as a NAME.yaml file holds it.
	YAML string `json:"yaml"`
}

// PlaygroundRequest is what to run.
type PlaygroundRequest struct {
	// Pipeline names the pipeline: a loaded one, or the name YAML is run as (its log
	// type, and the test case file's NAME).
	Pipeline string `json:"pipeline"`
	// YAML, when set, is a pipeline definition to run instead of the loaded one.
	YAML string `json:"yaml,omitempty"`
	// Lines are the raw lines, each run as the event {"message": line}.
	Lines []string `json:"lines"`
}

// PlaygroundResult is what the pipeline made of each line.
type PlaygroundResult struct {
	Pipeline string       `json:"pipeline"`
	Results  []LineResult `json:"results"`
	// TestCase is a NAME.test.yaml file with a case per line whose document is the one
	// shown (sluice test runs it), and FileName its name.
	TestCase string `json:"test_case"`
	FileName string `json:"file_name"`
}

// LineResult is what the pipeline made of one line.
type LineResult struct {
	Input string `json:"input"`
	// Document is the event as the pipeline left it (null when dropped).
	Document map[string]any `json:"document"`
	Dropped  bool           `json:"dropped"`
	// Failure is the pipeline's failure, when it failed (the document then carries
	// error.message and the failure tag).
	Failure string `json:"failure,omitempty"`
	// Nanos is the whole pipeline's time on this line, explanation included.
	Nanos int64        `json:"nanos"`
	Steps []StepResult `json:"steps"`
}

// StepResult is what one processor did to one line.
type StepResult struct {
	// Processor is its place in the pipeline ("processors[3].group.processors[1]").
	Processor string `json:"processor"`
	Kind      string `json:"kind"`
	Tag       string `json:"tag,omitempty"`
	// Depth is how deep in groups and on_failure handlers it is (0: top level).
	Depth int `json:"depth"`
	// Skipped: its if condition was false.
	Skipped bool   `json:"skipped"`
	Error   string `json:"error,omitempty"`
	Nanos   int64  `json:"nanos"`
	// Grok explains a grok processor's match.
	Grok *GrokExplain `json:"grok,omitempty"`
}

// GrokExplain is which of a grok processor's patterns matched, and what each pattern
// it refers to matched.
type GrokExplain struct {
	// Pattern is the index of the pattern that matched (-1: none did).
	Pattern    int        `json:"pattern"`
	Expression string     `json:"expression,omitempty"`
	Parts      []GrokPart `json:"parts"`
}

// GrokPart is what one %{NAME} of the matching expression matched.
type GrokPart struct {
	// Name is the pattern's name; Field the field it was captured into, if any.
	Name  string `json:"name"`
	Field string `json:"field,omitempty"`
	Text  string `json:"text"`
	Start int    `json:"start"`
	End   int    `json:"end"`
	// Depth is how deep it is in other patterns' definitions (0: in the expression).
	Depth int `json:"depth"`
}

// Limits of a playground request, so that the playground cannot be used to tie up
// the process.
const (
	MaxPlaygroundLines     = 200
	MaxPlaygroundLineBytes = 64 << 10
	MaxPlaygroundYAMLBytes = 256 << 10
	maxPlaygroundBody      = 2 << 20
	// maxPlaygroundRuns is how many requests run at once; more are answered 429.
	maxPlaygroundRuns = 2
)
