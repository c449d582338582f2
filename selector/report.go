// The report `auperf probe` prints: text and JSON.

package selector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Report is the document `auperf probe --json` writes; doc.go describes it
// and report_test.go checks every fixture's against that description.
type Report struct {
	Kernel ReportKernel  `json:"kernel"`
	Probes []ReportProbe `json:"probes"`
	Plan   *Plan         `json:"plan"`            // null when Error is set
	Error  string        `json:"error,omitempty"` // a forced source that cannot work, or nothing can be traced
	// Leftover is what a killed auperf left on this host (audit state,
	// mounts): `auperf cleanup` restores it, as does the next run.
	Leftover []string `json:"leftover,omitempty"`
}

// ReportKernel identifies the probed kernel.
type ReportKernel struct {
	Release string `json:"release"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
}

// ReportProbe is one probe's row.
type ReportProbe struct {
	Name      string `json:"name"`
	Status    string `json:"status"` // "ok", "no", "unknown"
	Value     string `json:"value,omitempty"`
	Reason    string `json:"reason,omitempty"`    // set unless status is ok
	MinKernel string `json:"minKernel,omitempty"` // first kernel with the feature, for some "no"s
}

// NewReport puts probe results and a plan (or the error that prevented
// one) into a Report.
func NewReport(h *Host, p *Plan, planErr error) *Report {
	r := &Report{
		Kernel: ReportKernel{Release: h.Release, Arch: h.Arch},
		Probes: make([]ReportProbe, 0, len(h.Results)),
		Plan:   p,
	}
	if !h.Version.IsZero() {
		r.Kernel.Version = h.Version.String()
	}
	for _, res := range h.Results {
		rp := ReportProbe{Name: res.Name, Status: res.Status(), Value: res.Value, Reason: reason(res.Err)}
		var ns *NotSupportedError
		if errors.As(res.Err, &ns) {
			rp.MinKernel = ns.MinKernel
		}
		r.Probes = append(r.Probes, rp)
	}
	if planErr != nil {
		r.Plan = nil
		r.Error = planErr.Error()
	}
	return r
}

// WriteJSON writes r as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes r as the tables `auperf probe` prints.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "CAPABILITY\tRESULT\tDETAIL\n")
	for _, p := range r.Probes {
		detail := p.Value
		if p.Status != "ok" {
			detail = p.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Status, detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Leftover) > 0 {
		fmt.Fprintf(w, "\nLEFT BY A KILLED AUPERF (auperf cleanup restores it; so does the next run)\n")
		for _, l := range r.Leftover {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if r.Plan == nil {
		_, err := fmt.Fprintf(w, "\nPLAN: %s\n", r.Error)
		return err
	}
	p := r.Plan
	fmt.Fprintf(w, "\nPLAN (--source %s)\n", p.Requested)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "EVENT\tSOURCE\tREASON\n")
	prev := ""
	for _, e := range p.Events {
		why := e.Reason
		if why == prev {
			why = "(as above)"
		}
		prev = e.Reason
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, e.Source, why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.Perf != nil {
		fmt.Fprintf(w, "perf:  %d events; tracefs %s (%s, %s)\n", len(p.Perf.Events), p.Perf.TraceFS.Path, p.Perf.TraceFS.FSType, p.Perf.TraceFS.State)
	}
	if a := p.Audit; a != nil {
		mode := "unicast"
		if a.Multicast {
			mode = "multicast alongside " + a.Owner
		}
		b32 := "none"
		if len(a.B32) > 0 {
			b32 = strings.Join(a.B32, ",")
		}
		fmt.Fprintf(w, "audit: %d events (b64); b32 rules for 32-bit processes: %s; %s; enabled=%d\n", len(a.Events), b32, mode, a.Enabled)
	}
	if err := p.Usable(); err != nil {
		fmt.Fprintf(w, "nothing can be traced here\n")
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}
