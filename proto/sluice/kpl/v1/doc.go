// Package kplv1 holds the messages of the Kinesis Producer Library (KPL) aggregated
// record format, generated from proto/sluice/kpl/v1/kpl.proto by scripts/gen.sh (template
// buf.gen.kpl.yaml). Only doc.go is written by hand.
//
// sluice encodes and decodes the format in stream/kinesis/kpl without these types (it needs
// exact sizes while it packs, and no copies while it unpacks); they are the format's
// machine-readable specification, and the tests check stream/kinesis/kpl against them in
// both directions.
package kplv1
