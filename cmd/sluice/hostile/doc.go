// Package hostile is the hostile-input acceptance suite of sluice (issue #13, item 6).
// It has no code of its own: its tests build the sluice binary once, start real
// `sluice dev` and `sluice gateway` processes on 127.0.0.1, and throw each class of
// hostile input at every listener (HTTP /v1/events, /_bulk and /v1/push, gRPC,
// lumberjack):
//
//   - crash: JSON nested a few million levels deep, plain and compressed;
//   - memory: bodies that declare 10 MiB and send one byte, decompression bombs,
//     lumberjack frames that declare more than they send;
//   - gRPC: tens of thousands of streams on one connection;
//   - connections: silent connections beyond each listener's max_connections, and a
//     flood under a low file-descriptor limit;
//   - cardinality: thousands of distinct log types;
//   - smaller defects: status codes of oversized /v1/push bodies, unsupported content
//     types, out-of-range numbers, invalid protobuf, unstructured log lines;
//   - lumberjack: oversized windows and frames, zlib bombs.
//
// What it proves: the process stays up; its peak RSS (VmHWM of /proc/PID/status) stays
// under the budget (400 MiB for 100 hostile connections against the default limits);
// every event acknowledged to a legitimate client that keeps sending during the attack
// is in the file sink after a graceful stop; each answer is the documented status
// (README.md, "Responses"); every line the process writes to stderr is a structured
// slog record.
//
// The suite needs Linux (/proc) and bash. It builds github.com/sluice-siem/sluice/cmd/sluice
// without -race, so that RSS is what users see; SLUICE_HOSTILE_BIN runs a binary built
// beforehand instead.
package hostile
