package event

// NewLost makes ev an auperf_lost event: count events of source were lost
// (on CPU cpu, or -1 when the source has no CPU, as audit) because of cause
// ("ring", "backlog", "sequence_gap", ...). Its shape:
//
//	eventName "auperf_lost", source "auperf", processorId = cpu when cpu >= 0,
//	args: source (string), cpu (int, null when cpu < 0), lost (u64), cause (string)
//
// ev is reset first; NewLost does not allocate.
func NewLost(ev *Event, ts int64, source string, cpu int, count uint64, cause string) {
	ev.Reset()
	ev.Timestamp = ts
	ev.EventName = NameLost
	ev.Source = SourceAuperf
	a := ev.SetArgs(4)
	a[0] = Arg{Name: "source", Type: "string", Kind: ArgString, Str: source}
	a[1] = Arg{Name: "cpu", Type: "int"}
	if cpu >= 0 {
		ev.Known |= HasProcessor
		ev.ProcessorID = int32(cpu)
		a[1].Kind = ArgInt
		a[1].Value = uint64(int64(cpu))
	}
	a[2] = Arg{Name: "lost", Type: "u64", Kind: ArgUint, Value: count}
	a[3] = Arg{Name: "cause", Type: "string", Kind: ArgString, Str: cause}
}

// NewLostUnknown makes ev an auperf_lost event whose count is not known
// ("lost": null): events of source on cpu went untraced for a while (a
// CPU that came back online before it was attached again). LostCount
// counts it as 0.
func NewLostUnknown(ev *Event, ts int64, source string, cpu int, cause string) {
	NewLost(ev, ts, source, cpu, 0, cause)
	ev.Args[2].Kind = ArgNull
}

// NewStats makes ev an auperf_stats event holding counters, in their order.
// Its shape:
//
//	eventName "auperf_stats", source "auperf",
//	args: one per counter, name "<Source>.<Name>" (e.g. "perf.received"), type "u64"
//
// ev is reset first. Stats are periodic, not per syscall: NewStats
// allocates the argument names (and the Args when there are more than 6).
func NewStats(ev *Event, ts int64, counters []Counter) {
	ev.Reset()
	ev.Timestamp = ts
	ev.EventName = NameStats
	ev.Source = SourceAuperf
	a := ev.SetArgs(len(counters))
	for i, c := range counters {
		a[i] = Arg{Name: c.Source + "." + c.Name, Type: "u64", Kind: ArgUint, Value: c.Value}
	}
}
