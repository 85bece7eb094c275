// Package fmtwrite writes container and compression formats that no
// Debian tool writes (cabinets with LZX or Quantum folders, CHM files
// with an LZX section, ...), so that they can be made in memory. The
// writers are used by the tests of pkg/unpack and by scripts/formatbench,
// never by the product.
//
// The writers are written from the format descriptions, like the decoders
// of pkg/unpack, but share no code with them: the format constants and
// tables they need are defined here again, and this package must not
// import pkg/unpack (whose tests import it). Writers take plain values and
// return the bytes written, with an error where the input cannot be
// written.
package fmtwrite
