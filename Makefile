# auperf build. Static binaries (CGO_ENABLED=0), reproducible paths
# (-trimpath), the version from git stamped into every command.

GO      ?= go
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION)
GOFILES  = $(shell find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -not -path './.bench/*')

export CGO_ENABLED := 0

.PHONY: build build-arm64 test vet fmt bench vmtest vmtest-custom install package fuzz soak

PREFIX  ?= /usr/local
DESTDIR ?=

# Every command under cmd/ into bin/: auperf, auperf-workload, ...
build:
	@mkdir -p bin
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

# What an arm64 guest of make vmtest runs, cross-built into bin-arm64/.
build-arm64:
	@mkdir -p bin-arm64
	GOARCH=arm64 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin-arm64/ ./cmd/auperf ./cmd/auperf-workload ./cmd/auperf-vmtest

# Kernel tests (TestIntegration*) skip unprivileged, fail instead of skipping
# with AUPERF_REQUIRE_KERNEL=1, and serialise themselves machine-wide.
# -p 1: one package at a time, so that the audit and perf load tests do not
# share the 2 CPUs with another package's compiles and tests (under that
# contention the audit 200k test saw socket overflows; see issue 4's note).
test:
	$(GO) test -p 1 -count=1 ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=10s

# Every fuzz target (func Fuzz* in a _test.go file) for FUZZTIME each, one
# after the other, from its committed seed corpus (testdata/fuzz) on; what
# a run finds is written there as a new failing seed. make test runs each
# for 10s; make fuzz FUZZTIME=10m for longer. A bare "context deadline
# exceeded" with no failing input written is Go's own race at the end of
# -fuzztime (golang/go#75804): that target runs once more, and fails the
# second time.
FUZZTIME ?= 2m
fuzz:
	@set -e; for f in $$(grep -l '^func Fuzz' $$(find . -name '*_test.go' -not -path './.git/*')); do \
		dir=./$$(dirname $$f); \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$dir $$t ($(FUZZTIME))"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$dir 2>&1) || { \
				if echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
					echo "$$t: the fuzzing coordinator's end-of-fuzztime race (golang/go#75804, no failing input): once more"; \
					out=$$($(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$dir 2>&1) || { echo "$$out"; exit 1; }; \
				else echo "$$out"; exit 1; fi; }; \
			echo "$$out" | tail -1; \
		done; \
	done

# Ten minutes of the workload's loop at a steady high rate under auperf
# (perf and audit, one after the other), with auperf's RSS and open fds
# sampled every 10s: the series is printed, and the run fails on growth or
# on loss below the rate it measured first. Needs root. SOAKTIME=10m.
SOAKTIME ?= 10m
soak: build
	./bin/auperf-bench -soak $(SOAKTIME)

vet:
	$(GO) vet ./...

# A check, not a rewrite: fails listing the files gofmt would change.
fmt:
	@out=$$(gofmt -l $(GOFILES)); \
	if [ -n "$$out" ]; then echo "gofmt -l (run gofmt -w on these):"; echo "$$out"; exit 1; fi

# The benchmark table (cmd/auperf-bench, internal/bench): the workload's loop
# untraced, under auperf --source perf and --source audit, under a bare audit
# reader that discards what it reads (the floor for --source audit), and, where
# installed, under perf trace -a (linux-perf) and auditd (auditd). Needs root.
# It reports, never asserts. E.g. make bench BENCHFLAGS="-n 100000 -rounds 5".
bench: build
	./bin/auperf-bench $(BENCHFLAGS)

# Real kernels beyond this one (cmd/auperf-vmtest, internal/vmtest): Debian's
# stock 5.10, 6.1 and 6.12 kernels and bookworm's arm64 6.1 (fetched through a private apt config into
# ~/.cache/auperf/vmtest, never installed) boot under QEMU with software
# emulation; in each, probe and run with every source are checked against the
# workload's truth and against each other. Needs qemu-system-x86,
# qemu-system-arm, busybox-static. E.g. make vmtest VMTESTFLAGS="-kernels 6.1 -variants-on ''".
# FULL=1 runs the repository's kernel tests (TestIntegration*, but for the
# few too heavy for emulation) inside one 6.1 guest instead.
ifeq ($(FULL),1)
VMTESTFLAGS += -full -kernels 6.1 -timeout 60m
endif

vmtest: build build-arm64
	./bin/auperf-vmtest -bin bin $(VMTESTFLAGS)

# Custom kernels built from Debian's linux-source-6.1 (tinyconfig plus the
# fragments in internal/vmtest/configs: no FTRACE_SYSCALLS, no AUDIT, no
# IA32_EMULATION, no PERF_EVENTS), cached by fragment hash; about 6 minutes
# per kernel on 2 CPUs the first time. Needs linux-source-6.1 build-essential
# flex bison libelf-dev bc besides make vmtest's packages. On demand, not CI.
vmtest-custom: build
	./bin/auperf-vmtest -bin bin -custom all $(VMTESTFLAGS)

# Install the binary, the systemd unit (ExecStart pointing at PREFIX), the
# sample config /etc/auperf/auperf.yaml (an existing one is kept, the new one
# written beside it as .new), the logrotate snippet, the man page and the
# bash/zsh completions. E.g. make install PREFIX=/usr DESTDIR=/tmp/root.
install: build
	$(GO) run ./tools/package -bin bin/auperf -install "$(or $(DESTDIR),/)" -prefix "$(PREFIX)"

# .deb and .rpm for amd64 and arm64 into dist/, built with the nfpm library
# (tools/package): no external packaging tool.
package: build build-arm64
	$(GO) run ./tools/package -bin bin/auperf -arch amd64 -out dist
	$(GO) run ./tools/package -bin bin-arm64/auperf -docbin bin/auperf -arch arm64 -out dist
