package processkit

import "strings"

// Readable names of the enums. The generated String methods give the C
// names ("PK_OUTCOME_TIMED_OUT"), which is what %v prints; Name gives the
// short lower-case one ("timed-out", "cgroup-v2", "stdout"), derived from
// that same generated table: the C prefix dropped, '_' as '-'. A value
// outside the table keeps String's "Outcome(7)" form.

// shortName turns a generated C name into the readable one.
func shortName(cname, prefix string) string {
	rest, ok := strings.CutPrefix(cname, prefix)
	if !ok {
		if cname == "PK_OK" {
			return "ok"
		}
		return cname // "Outcome(7)": not a known value
	}
	return strings.ReplaceAll(strings.ToLower(rest), "_", "-")
}

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v Backend) Name() string { return shortName(v.String(), "PK_BACKEND_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v CommandFlag) Name() string { return shortName(v.String(), "PK_COMMAND_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v Code) Name() string { return shortName(v.String(), "PK_ERR_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v ExitKind) Name() string { return shortName(v.String(), "PK_EXIT_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v Feature) Name() string { return shortName(v.String(), "PK_FEATURE_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v GroupFlag) Name() string { return shortName(v.String(), "PK_GROUP_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v MatchFlag) Name() string { return shortName(v.String(), "PK_MATCH_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v Outcome) Name() string { return shortName(v.String(), "PK_OUTCOME_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v OutputMode) Name() string { return shortName(v.String(), "PK_OUTPUT_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v Overflow) Name() string { return shortName(v.String(), "PK_OVERFLOW_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v PipelineFlag) Name() string { return shortName(v.String(), "PK_PIPELINE_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v ReadyKind) Name() string { return shortName(v.String(), "PK_READY_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v ReadyOutcome) Name() string { return shortName(v.String(), "PK_READY_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v Restart) Name() string { return shortName(v.String(), "PK_RESTART_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v SpawnFlag) Name() string { return shortName(v.String(), "PK_SPAWN_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v StageFlag) Name() string { return shortName(v.String(), "PK_STAGE_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v StormAction) Name() string { return shortName(v.String(), "PK_STORM_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v Stream) Name() string { return shortName(v.String(), "PK_STREAM_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v StructID) Name() string { return shortName(v.String(), "PK_STRUCT_") }

// Name is the readable name of the value, its C name without the prefix
// and in lower case with hyphens, or String's form for an unknown value.
func (v SuperviseEvent) Name() string { return shortName(v.String(), "PK_SUPERVISE_") }

// Name is the mechanism's stable name, as String ("cgroup-v2").
func (m Mechanism) Name() string { return m.String() }
