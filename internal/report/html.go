package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// The page: one file, its style, script and charts inline, so that it
// opens anywhere (a ticket attachment, an air-gapped host) with no network.
var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"clock": clock,
	"date":  func(ns int64) string { return time.Unix(0, ns).UTC().Format("2006-01-02 15:04:05 MST") },
	"join":  strings.Join,
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>auperf report</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1f24; background: #fff; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
h2 { font-size: 1.15em; margin: 1.6em 0 .3em; border-bottom: 1px solid #d0d7de; padding-bottom: .2em; }
h3 { font-size: 1em; margin: 1em 0 .3em; }
.meta { color: #57606a; }
table { border-collapse: collapse; margin: .3em 0 .8em; }
th, td { border: 1px solid #d0d7de; padding: .2em .5em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort=ascending]::after { content: " \25B2"; }
th[aria-sort=descending]::after { content: " \25BC"; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.code, span.code { font-family: ui-monospace, monospace; font-size: .92em; }
.bad { color: #b3261e; font-weight: 600; }
.ok { color: #1a7f37; }
svg { display: block; margin: .3em 0; }
svg .rate { fill: #6e9bd1; }
svg .mark { fill: #b3261e; }
svg .axis { stroke: #8c959f; stroke-width: 1; }
svg text { font: 11px system-ui, sans-serif; fill: #57606a; }
details summary { cursor: pointer; color: #57606a; }
</style>
</head>
<body>
<h1>auperf report</h1>
<p class="meta">{{.R.Events}} syscall events of {{len .R.Processes}} {{if eq (len .R.Processes) 1}}process{{else}}processes{{end}}{{if .R.Events}}, {{date .R.First}} to {{clock .R.Last}} ({{.Span}}){{end}};
<span id="total-findings">{{.R.Findings}}</span> findings ({{if eq .R.FindingsFrom "input"}}from the input{{else}}derived from the syscalls{{end}}){{if .R.Lost}};
<span class="bad">{{.R.Lost}} events lost by the sources</span>{{end}}{{if .R.Skipped}}; {{.R.Skipped}} lines skipped (not auperf JSON){{end}}.</p>

<h2>Processes</h2>
<table class="sortable" id="processes">
<thead><tr><th>PID</th><th>Name</th><th>Host</th><th>Sources</th><th>Calls</th><th>Failed</th><th>Findings</th></tr></thead>
<tbody>
{{range .R.Processes}}<tr data-pid="{{.PID}}"><td class="n" data-v="{{.PID}}"><a href="#proc-{{.Host}}-{{.PID}}">{{.PID}}</a></td><td>{{.Name}}</td><td>{{.Host}}</td><td>{{join .Sources "+"}}</td><td class="n" data-v="{{.Calls}}">{{.Calls}}</td><td class="n" data-v="{{.Failed}}">{{.Failed}}</td><td class="n{{if .Findings}} bad{{end}}" data-v="{{len .Findings}}">{{len .Findings}}</td></tr>
{{end}}</tbody>
</table>

{{range .Procs}}{{$p := .P}}
<section class="process" id="proc-{{$p.Host}}-{{$p.PID}}" data-pid="{{$p.PID}}">
<h2>{{$p.PID}} {{$p.Name}}{{if $p.Executable}} <span class="meta code">{{$p.Executable}}</span>{{end}}{{if $p.Host}} <span class="meta">on {{$p.Host}}</span>{{end}}</h2>
<p class="meta">{{join $p.Sources "+"}}, {{$p.Calls}} calls, {{$p.Failed}} failed, {{clock $p.First}} to {{clock $p.Last}}</p>
<svg class="timeline" width="{{$.W}}" height="{{$.H}}" viewBox="0 0 {{$.W}} {{$.H}}" role="img" aria-label="syscalls per {{$.Slice}} and findings of {{$p.PID}}">
<title>syscalls per {{$.Slice}} (peak {{.Peak}}) and findings</title>
<line class="axis" x1="0" y1="{{$.Base}}" x2="{{$.W}}" y2="{{$.Base}}"/>
{{range .Bars}}<rect class="rate" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>
{{end}}{{range .Marks}}<path class="mark" data-finding="{{.Name}}" d="M{{.X}} {{$.MarkY}} l5 9 h-10 z"><title>{{.Title}}</title></path>
{{end}}<text x="0" y="{{$.H}}">{{clock $.R.First}}</text><text x="{{$.W}}" y="{{$.H}}" text-anchor="end">{{clock $.R.Last}}</text>
</svg>
{{if $p.Findings}}<h3>Findings</h3>
<table class="sortable findings">
<thead><tr><th>Time</th><th>Finding</th><th>Region</th><th>Length</th><th>Pattern</th><th>File</th><th>Explanation</th></tr></thead>
<tbody>
{{range $p.Findings}}<tr class="finding" data-name="{{.Name}}" data-addr="{{.Addr}}"><td class="code" data-v="{{.Ts}}">{{clock .Ts}}</td><td class="bad">{{.Name}}</td><td class="code">{{.Addr}}</td><td class="n" data-v="{{.Length}}">{{.Length}}</td><td>{{.Pattern}}</td><td class="code">{{.File}}</td><td>{{.Explanation}}<details><summary>evidence</summary><span class="code">{{.Evidence}}</span></details></td></tr>
{{end}}</tbody>
</table>{{end}}
<h3>Syscalls</h3>
<table class="sortable syscalls">
<thead><tr><th>Syscall</th><th>Calls</th><th>Failed</th><th>Errnos</th></tr></thead>
<tbody>
{{range $p.Syscalls}}<tr><td class="code">{{.Name}}</td><td class="n" data-v="{{.Calls}}">{{.Calls}}</td><td class="n" data-v="{{.Failed}}">{{.Failed}}</td><td>{{range $e, $n := .Errnos}}{{$e}} {{$n}} {{end}}</td></tr>
{{end}}</tbody>
</table>
{{if $p.Mappings}}<h3>Shared writable file mappings</h3>
<table class="sortable mappings">
<thead><tr><th>Region</th><th>Length</th><th>MS_SYNC bytes</th><th>MS_ASYNC only</th><th>Verdict</th><th>File</th><th>Mapped</th><th>Ended</th></tr></thead>
<tbody>
{{range $p.Mappings}}<tr><td class="code">{{.Addr}}</td><td class="n" data-v="{{.Length}}">{{.Length}}</td><td class="n" data-v="{{.Synced}}">{{.Synced}}</td><td class="n" data-v="{{.AsyncOnly}}">{{.AsyncOnly}}</td><td class="{{if eq .Verdict "synced"}}ok{{else}}bad{{end}}">{{.Verdict}}</td><td class="code">{{.File}}</td><td class="code" data-v="{{.Mapped}}">{{clock .Mapped}}</td><td class="code" data-v="{{.Ended}}">{{if .Ended}}{{clock .Ended}}{{else}}-{{end}}</td></tr>
{{end}}</tbody>
</table>{{end}}
{{if $p.Locked}}<h3>Locked memory (peak {{$p.LockedPeak}} bytes)</h3>
<table class="sortable locked">
<thead><tr><th>From</th><th>Bytes locked</th></tr></thead>
<tbody>
{{range $p.Locked}}<tr><td class="code" data-v="{{.Ts}}">{{clock .Ts}}</td><td class="n" data-v="{{.Bytes}}">{{.Bytes}}</td></tr>
{{end}}</tbody>
</table>{{end}}
</section>
{{end}}
<script>
// Sortable tables: a click on a header sorts by that column (numbers by
// their data-v), again to reverse.
(function () {
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col];
          var u = x.dataset.v, v = y.dataset.v, r;
          if (u !== undefined && v !== undefined) {
            r = Number(u) - Number(v);
          } else {
            r = x.textContent.localeCompare(y.textContent);
          }
          return asc ? r : -r;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
    table.dataset.sortable = "ready";
  });
  // #sort-check (the test's): sort the processes by calls, descending,
  // and say the order the page shows.
  if (location.hash === "#sort-check") {
    var th = document.querySelector("#processes th:nth-child(5)");
    th.click();
    th.click();
    document.body.dataset.sorted = Array.prototype.map.call(
      document.querySelectorAll("#processes tbody tr"), function (r) { return r.dataset.pid; }).join(",");
  }
  document.body.dataset.ready = "1";
})();
</script>
</body>
</html>
`))

type bar struct {
	X, Y, W, H float64
	Title      string
}

type mark struct {
	X     float64
	Name  string
	Title string
}

type procView struct {
	P     *Process
	Peak  int
	Bars  []bar
	Marks []mark
}

type pageView struct {
	R                 *Report
	Procs             []procView
	W, H, Base, MarkY float64
	Span, Slice       string
}

// WriteHTML writes the report as one self-contained HTML page.
func WriteHTML(w io.Writer, rep *Report) error {
	v := pageView{R: rep, W: 720, H: 110, Base: 92, MarkY: 2}
	v.Span = fmt.Sprintf("%.3f s", float64(rep.Last-rep.First)/1e9)
	v.Slice = time.Duration(rep.BucketNs).String()
	span := float64(rep.Last - rep.First + 1)
	bw := v.W / Buckets
	for _, p := range rep.Processes {
		pv := procView{P: p}
		for _, n := range p.Timeline {
			pv.Peak = max(pv.Peak, n)
		}
		for i, n := range p.Timeline {
			if n == 0 {
				continue
			}
			h := (v.Base - 16) * float64(n) / float64(pv.Peak)
			start := rep.First + int64(i)*rep.BucketNs
			pv.Bars = append(pv.Bars, bar{X: float64(i) * bw, Y: v.Base - h, W: bw - 1, H: h,
				Title: fmt.Sprintf("%s: %d calls", clock(start), n)})
		}
		for _, f := range p.Findings {
			x := v.W * float64(f.Ts-rep.First) / span
			pv.Marks = append(pv.Marks, mark{X: x, Name: f.Name,
				Title: fmt.Sprintf("%s %s %s+%d %s", clock(f.Ts), f.Name, f.Addr, f.Length, f.Pattern)})
		}
		v.Procs = append(v.Procs, pv)
	}
	return page.Execute(w, v)
}
