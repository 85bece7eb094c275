// Package config reads AVE's INI configuration (etc/ave.conf, installed as
// /etc/ave/ave.conf) into typed, validated values. Every binary reads the
// same file and validates the sections it owns; sections of other binaries
// are recognised by prefix and left alone. Defaults are complete: Load("")
// returns a working configuration. All problems of a file are reported at
// once, each naming the file, section and key and what was expected.
//
// config is a leaf package without cgo; it knows nothing of sockets or scans.
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/ini.v1"
)

// knownPrefixes are the section families of the suite. A section outside
// these families is a typo and an error for every binary.
var knownPrefixes = []string{"aveserver.", "smtpscan.", "scanner.", "updater.", "avectl.", "qmail."}

// section is the schema of one section: the parser of each key, by
// lower-case key name; a parser stores the value into its target.
type section map[string]func(v string) error

// schema binds sections to their keys. A binary builds one with the parts
// it owns and calls apply.
type schema struct {
	owned  map[string]section // by lower-case section name
	prefix string             // the family this binary owns, e.g. "aveserver."
}

// Errors collects every problem found in a file.
type Errors []error

func (e Errors) Error() string {
	s := make([]string, len(e))
	for i, err := range e {
		s[i] = err.Error()
	}
	return strings.Join(s, "\n")
}

// apply reads file (if not empty) and parses every key of the owned
// sections into the targets of the schema.
func (s schema) apply(file string) error {
	if file == "" {
		return nil
	}
	f, err := ini.LoadSources(ini.LoadOptions{
		Insensitive:              false,
		IgnoreInlineComment:      true,
		AllowShadows:             false,
		SpaceBeforeInlineComment: true,
	}, file)
	if err != nil {
		return fmt.Errorf("config: %s: %w", file, err)
	}
	var errs Errors
	for _, sec := range f.Sections() {
		name := sec.Name()
		if name == ini.DefaultSection {
			if len(sec.Keys()) > 0 {
				errs = append(errs, fmt.Errorf("%s: key %q outside any section", file, sec.Keys()[0].Name()))
			}
			continue
		}
		lname := strings.ToLower(name)
		if !hasKnownPrefix(lname) {
			errs = append(errs, fmt.Errorf("%s: [%s]: unknown section (sections start with %s)", file, name, strings.Join(knownPrefixes, ", ")))
			continue
		}
		if !strings.HasPrefix(lname, s.prefix) {
			continue // another binary's section
		}
		keys, ok := s.owned[lname]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: [%s]: unknown section", file, name))
			continue
		}
		for _, k := range sec.Keys() {
			parse, ok := keys[strings.ToLower(k.Name())]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: [%s] %s: unknown key", file, name, k.Name()))
				continue
			}
			if err := parse(strings.TrimSpace(k.Value())); err != nil {
				errs = append(errs, fmt.Errorf("%s: [%s] %s=%s: %v", file, name, k.Name(), k.Value(), err))
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func hasKnownPrefix(lname string) bool {
	for _, p := range knownPrefixes {
		if strings.HasPrefix(lname, p) {
			return true
		}
	}
	return false
}

// Value parsers. Each names what it expects in its error.

func str(dst *string) func(string) error {
	return func(v string) error { *dst = v; return nil }
}

func boolean(dst *bool) func(string) error {
	return func(v string) error {
		switch strings.ToLower(v) {
		case "yes", "true", "on", "1":
			*dst = true
		case "no", "false", "off", "0":
			*dst = false
		default:
			return errors.New("expected yes or no")
		}
		return nil
	}
}

func integer(dst *int, min, max int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			return fmt.Errorf("expected an integer from %d to %d", min, max)
		}
		*dst = n
		return nil
	}
}

// size parses a byte count with an optional K, M or G suffix (powers of 1024).
func size(dst *int64, min int64) func(string) error {
	return func(v string) error {
		n, err := ParseSize(v)
		if err != nil || n < min {
			return fmt.Errorf("expected a size in bytes of at least %d, optionally with K, M or G", min)
		}
		*dst = n
		return nil
	}
}

// ParseSize parses "1048576", "512K", "64M", "2G".
func ParseSize(v string) (int64, error) {
	v = strings.TrimSpace(v)
	mult := int64(1)
	if v != "" {
		switch v[len(v)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			v = v[:len(v)-1]
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", v)
	}
	return n * mult, nil
}

// duration parses seconds ("60", as in the Kaspersky manual) or a Go
// duration ("90s", "2m").
func duration(dst *time.Duration, min time.Duration) func(string) error {
	return func(v string) error {
		d, err := ParseDuration(v)
		if err != nil || d < min {
			return fmt.Errorf("expected seconds or a duration like 90s of at least %v", min)
		}
		*dst = d
		return nil
	}
}

// ParseDuration parses whole seconds or a Go duration.
func ParseDuration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative duration %q", v)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q", v)
	}
	return d, nil
}

func fileMode(dst *os.FileMode) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseUint(v, 8, 32)
		if err != nil || n > 0o777 {
			return errors.New("expected an octal permission like 0660")
		}
		*dst = os.FileMode(n)
		return nil
	}
}

func oneOf(dst *string, allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if strings.EqualFold(a, v) {
				*dst = a
				return nil
			}
		}
		return fmt.Errorf("expected one of %s", strings.Join(allowed, ", "))
	}
}
