// Package output writes events to stdout, files and syslog (see SpecHelp
// for the --output specs and their options).
//
// # Fan-out without head-of-line blocking
//
// Fanout.Write runs on the pipeline goroutine with a borrowed event. It
// encodes the event once per format (all JSON sinks share one encoding, all
// text sinks of the same colour another; each syslog sink formats its own
// header around the shared JSON body) into the current batch of that
// format, and hands a batch over when it reaches Options.BatchBytes or has
// waited its flush delay (200ms by default: a bounded delay before data
// reaches a file or a socket). Each sink has its own goroutine and its own
// bounded queue of batches; Write never waits for one. When a sink's queue
// is full, that sink loses the batch and counts its events as dropped;
// the other sinks are not affected. Batches are pooled and shared by
// reference count, so the steady state does not allocate.
//
// # Failure and retry
//
// A sink whose write fails (ENOSPC, EIO, a closed TCP peer) keeps the
// failed batch and what arrives after it, up to the sink's buffer option
// (4 MiB), and retries with exponential backoff (100ms to 5s). Past the
// bound the oldest batch that nothing was written of is dropped and
// counted, so a full disk costs the oldest events, never a crash, and
// writing resumes by itself when space returns. A file write that stopped
// half way resumes at the byte it stopped at, so a file never holds a
// broken line. Every failed attempt counts in "errors".
//
// # Files
//
// json:PATH and text:PATH append (O_APPEND) to PATH, creating it with mode
// 0640 (the mode option; exact, whatever the umask) and its parent
// directories with 0750. max_size rotates PATH to PATH.1 .. PATH.keep
// before a batch would make it larger; Reopen (SIGHUP) reopens PATH after
// an external rotation (logrotate's rename + HUP). A batch goes whole to
// one file, so old and new file together hold every event exactly once.
// fsync is optional (fsync=1s: at most once a second while writing). A
// file removed under the sink (rm, or rm -r of its directory) is noticed
// within a second of writing and PATH is created again. A Reopen that
// comes while a batch is half written (a full disk) waits for the batch
// to be finished in the old file.
//
// # Syslog
//
// RFC 5424 by default:
//
//	<PRI>1 2026-11-26T10:58:57.123456Z HOST auperf PROCID MSGID [auperf@32473 pid=".." tid=".." uid=".." comm=".." syscall=".." ret=".." errno=".."] BODY
//
// PROCID is auperf's own pid, MSGID the event name, BODY the event's JSON
// line without its newline (with cee=1 prefixed by "@cee:" for rsyslog's
// mmjsonparse). Structured data holds the key fields for receivers that do
// not parse the body; a parameter is present only when the event knows it.
// Its values are first escaped like the text output (no control byte, valid
// UTF-8) and then escaped per RFC 5424 ('"', '\', ']'), so no process name
// can close the element or end the record; header fields are PRINTUSASCII
// ('_' replaces anything else). 32473 is the enterprise number RFC 5612
// reserves for examples: auperf has none of its own. RFC 3164
// (format=rfc3164) is "<PRI>Mmm dd hh:mm:ss HOST auperf[PID]: BODY" in local
// time. auperf_lost events are sent with severity warning (unless the
// configured severity is already more severe).
//
// Transports: the local socket (/dev/log, or socket=PATH, or
// syslog:unix:///PATH) as a datagram socket, else as a stream socket with
// one message per line; UDP (one datagram per message); TCP and TLS with
// RFC 6587 octet counting. TLS verifies the server's certificate against
// ca= (or the system roots) and server_name= (or the host), and may
// present a client certificate (cert=, key=). A stream connection is
// checked for a peer that closed it before each write (a write into it
// would vanish into the kernel's buffer) and reconnected with backoff.
// A server that refuses us after accepting the connection would otherwise
// take every batch that way, on every reconnect, so a new TCP or TLS
// connection is watched for 100ms before its first write (rsyslog closes
// a connection from a sender not in its AllowedSender list at once), for
// 500ms when the TLS server asked for a client certificate (a refusal of
// it comes after the handshake). A refusal is a connect error: counted,
// retried, and at Open an error naming the spec.
// TCP has no acknowledgements: what the kernel accepted just before the
// peer died is lost without a trace, as with any plain TCP syslog.
//
// A message longer than msg_max (udp 2048, others 8192 bytes, rsyslog's
// default limit) would be truncated by the receiver, breaking the JSON.
// auperf instead re-encodes the event with its process-controlled strings
// (processName, executable.path, string arguments) cut to 256, 64, 16 and 0
// bytes, then without arguments, adds "truncated":true to the body, and
// counts it in "truncated"; an event that still does not fit is dropped
// and counted. A datagram the socket refuses as too large (EMSGSIZE) is
// dropped and counted too.
//
// # Counters
//
// Stats returns per sink "received", "written", "dropped" and "errors"
// (and "truncated" for syslog) with Source "output:" plus the spec without
// its options (no file names of keys in the stream). received = written +
// dropped + what is still queued.
//
// This package does not encode events itself (package event does) and
// does not decide what to trace.
package output
