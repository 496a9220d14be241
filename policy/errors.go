package policy

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrNoConfig reports that a configuration file does not exist, as opposed
// to existing and being invalid.
var ErrNoConfig = errors.New("no configuration file")

// Pos is a place in a configuration file. Line and Col are 1-based; a zero
// Line means the place is unknown.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	switch {
	case p.File == "" && p.Line == 0:
		return ""
	case p.Line == 0:
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// Diagnostic is one problem found in a configuration.
type Diagnostic struct {
	// Code is a stable identifier for the kind of problem.
	Code string
	// Path is a JSON pointer to the value at fault ("/providers/openai/baseurl").
	Path    string
	Pos     Pos
	Message string
	Warning bool
}

// Diagnostic codes.
const (
	CodeSyntax          = "syntax"
	CodeType            = "type"
	CodeDuplicateKey    = "duplicate_key"
	CodeUnknownField    = "unknown_field"
	CodeNoProviders     = "no_providers"
	CodeNoBaseURL       = "no_base_url"
	CodeBadBaseURL      = "bad_base_url"
	CodeNoModels        = "no_models"
	CodeBadAuth         = "bad_authorization"
	CodeNoAPIKey        = "no_api_key"
	CodeMacros          = "unsubstituted_macros"
	CodeBadCompat       = "bad_compatibility"
	CodeBadRole         = "bad_role"
	CodeBadGrant        = "bad_grant"
	CodeUndefinedHook   = "undefined_hook"
	CodeBadEvent        = "bad_event"
	CodeBadField        = "bad_field"
	CodeBadDuration     = "bad_duration"
	CodeBadHook         = "bad_hook"
	CodeBadSource       = "bad_source"
	CodeBadFailPolicy   = "bad_fail_policy"
	CodeBadCondition    = "bad_condition"
	CodeBadExporter     = "bad_exporter"
	CodeDuplicateModel  = "duplicate_model"
	CodeEmptyCompatible = "no_formats"
	// CodeUnknownSection is an unknown top-level key: an error, since a
	// section sluice does not know may carry access rules.
	CodeUnknownSection = "unknown_section"
	// CodeUnsupportedSection is a documented section this version does
	// not implement and refuses rather than ignores.
	CodeUnsupportedSection = "unsupported_section"
	// CodeNotBuilt warns of a setting that loads but does nothing in this
	// version (the S3 exporter).
	CodeNotBuilt        = "not_built"
	CodeBadCostBasis    = "bad_cost_basis"
	CodeBadRetention    = "bad_retention"
	CodeBadOnLogFailure = "bad_on_log_failure"

	CodeUnknownCapability = "unknown_capability"
	CodeBadQuota          = "bad_quota"
	CodeUndefinedQuota    = "undefined_quota"
	CodeBadHeader         = "bad_header"
	// CodeBadTracing marks an invalid setting of the tracing section.
	CodeBadTracing = "bad_tracing"
	// CodeBadConnector marks an invalid entry of connectors.servers.
	CodeBadConnector = "bad_connector"
)

// String renders "file:line:col: message", the place omitted when unknown.
func (d Diagnostic) String() string {
	if p := d.Pos.String(); p != "" {
		return p + ": " + d.Message
	}
	return d.Message
}

// Errors is every problem of one load, sorted by position. It is the error
// Parse and Load return when a configuration is refused.
type Errors []Diagnostic

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, d := range e {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Has reports whether some diagnostic has the given code.
func (e Errors) Has(code string) bool {
	for _, d := range e {
		if d.Code == code {
			return true
		}
	}
	return false
}

func (e Errors) sort() {
	sort.SliceStable(e, func(i, j int) bool {
		a, b := e[i].Pos, e[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

func errorf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
