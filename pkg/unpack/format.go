// Package unpack opens containers and encodings and walks every object in
// them, recursively. One file per format registers a Format; the Walker in
// walker.go owns every limit (object size, total bytes, depth, files per
// container, compression ratio, time), so a format never has to check them.
//
// unpack does not match signatures: the Walker hands each object to the
// caller's Inspect function and records what it returns.
package unpack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"ave/pkg/filetype"
)

// Sentinel errors. Formats wrap them with %w and a detail.
var (
	// ErrCorrupt: the container could not be parsed (CORRUPTED).
	ErrCorrupt = errors.New("unpack: corrupted")
	// ErrEncrypted: content is encrypted and cannot be read (PROTECTED).
	ErrEncrypted = errors.New("unpack: encrypted")
	// ErrLimit: a limit was hit (UNCHECKED). Only the Walker returns it.
	ErrLimit = errors.New("unpack: limit exceeded")
	// ErrUnsupported: well-formed content in a variant no decoder here
	// reads (a compression method): UNCHECKED, not CORRUPTED.
	ErrUnsupported = errors.New("unpack: unsupported")
)

// Member is one object found inside a container.
type Member struct {
	// Name is the member's name inside the container ("docs/a.exe"); it
	// becomes one element of the object path. Empty names are replaced by
	// the member's ordinal number.
	Name string
	// Size is the declared uncompressed size, or -1 when unknown.
	Size int64
	// Packed is the compressed size, or -1 when unknown; with Size it gives
	// the compression ratio checked by the Walker.
	Packed int64
	// Encrypted marks a member whose content cannot be read: the Walker
	// reports it PROTECTED without calling Open.
	Encrypted bool
	// Hint is a type the container declares for the member ("mail" for a
	// message/rfc822 part); content detection still comes first.
	Hint filetype.Type
	// Depth is the extra nesting the member sits at inside this container
	// beyond one level (a part of a multipart inside a multipart has 1).
	Depth int
	// Open returns the member's content. The reader is valid only until
	// yield returns; the Walker reads it at most once and never past its
	// limits. A nil Open means the content is in Data.
	Open func() (io.Reader, error)
	// Data holds the content when the format already has it in memory.
	Data []byte
	// Anomaly, when set, records something odd about the member (a MIME
	// part with a wrong declared encoding); it is reported with the object.
	Anomaly string
}

// Container is what a Format receives: the container's bytes and where it sits.
type Container struct {
	Data  []byte
	Name  string // last element of the container's path
	Type  filetype.Type
	Depth int
	// MaxDepth is the Walker's depth limit; formats that nest internally
	// (multipart inside multipart) stop and return ErrLimit beyond it.
	MaxDepth int
}

// Walk is a format's iterator: it calls yield once per member, in order,
// and stops as soon as yield returns an error, returning that error.
// A format that cannot parse its input returns an error wrapping ErrCorrupt;
// members already yielded stay scanned.
type WalkFunc func(ctx context.Context, c *Container, yield func(Member) error) error

// Format describes a container or encoding.
type Format struct {
	Name  string
	Types []filetype.Type
	Walk  WalkFunc
}

var (
	regMu   sync.RWMutex
	byType  = map[filetype.Type]*Format{}
	formats []*Format
)

// Register adds a format; each format file calls it from init. Registering
// two formats for one type panics: that is a programming error.
func Register(f Format) {
	regMu.Lock()
	defer regMu.Unlock()
	p := &f
	for _, t := range f.Types {
		if old, ok := byType[t]; ok {
			panic(fmt.Sprintf("unpack: type %s registered by %s and %s", t, old.Name, f.Name))
		}
		byType[t] = p
	}
	formats = append(formats, p)
}

// Lookup returns the format for a type, or nil when the type is a leaf.
func Lookup(t filetype.Type) *Format {
	regMu.RLock()
	defer regMu.RUnlock()
	return byType[t]
}

// Formats lists the registered format names.
func Formats() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, len(formats))
	for i, f := range formats {
		out[i] = f.Name
	}
	return out
}
