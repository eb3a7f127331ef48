package processkit

// Readable names of the enums. The generated String methods print the
// readable name ("timed-out", "cgroup-v2", "stdout", "not-found"), so %v and
// fmt.Stringer give it; CName gives the C name ("PK_OUTCOME_TIMED_OUT"). A
// value outside the table prints as "Outcome(7)". Name is kept as another
// spelling of String.

// Name is the readable name of the value, as String.
func (v Backend) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v CommandFlag) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v Code) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v ExitKind) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v Feature) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v GroupFlag) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v MatchFlag) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v Outcome) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v OutputMode) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v Overflow) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v PipelineFlag) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v ReadyKind) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v ReadyOutcome) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v Restart) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v SpawnFlag) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v StageFlag) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v StormAction) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v Stream) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v StructID) Name() string { return v.String() }

// Name is the readable name of the value, as String.
func (v SuperviseEvent) Name() string { return v.String() }

// Name is the mechanism's stable name, as String ("cgroup-v2").
func (m Mechanism) Name() string { return m.String() }
