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
var knownPrefixes = []string{"aveserver.", "smtpscan.", "scanner.", "updater.", "qmail."}

// section is the schema of one section: the parser of each key, by
// lower-case key name; a parser stores the value into its target.
type section map[string]func(v string) error

// schema binds sections to their keys. A binary builds one with the parts
// it owns and calls apply.
type schema struct {
	owned  map[string]section // by lower-case section name
	prefix string             // the family this binary owns, e.g. "aveserver."

	// families are sections named by a prefix and a name chosen by the
	// user, e.g. "smtpscan.group:" for [smtpscan.group:NAME]: the function
	// is called with NAME as written for each such section, in file order,
	// and returns the schema of that section or why the name is refused.
	families map[string]func(name string) (section, error)

	// foreign lists the sections of prefix that another loader owns (one
	// binary may read the family with several loaders): exact lower-case
	// names, or prefixes ending in ":" for families. They are left alone.
	foreign []string

	// repeatable holds the lower-case names of the keys that may be given
	// more than once in a section of this schema (lists such as Senders):
	// their parser is called once for every value, in file order. Any
	// other key given twice in one section is an error.
	repeatable map[string]bool
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
		Insensitive:                false,
		IgnoreInlineComment:        true,
		AllowShadows:               true, // repeated keys: lists, or "given more than once"
		AllowDuplicateShadowValues: true,
		AllowNonUniqueSections:     true, // repeated sections: "given more than once"
		SpaceBeforeInlineComment:   true,
	}, file)
	if err != nil {
		return fmt.Errorf("config: %s: %w", file, err)
	}
	var errs Errors
	seen := map[string]bool{} // lower-case names of the sections parsed
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
		if !strings.HasPrefix(lname, s.prefix) || s.isForeign(lname) {
			continue // another binary's or another loader's section
		}
		if seen[lname] {
			errs = append(errs, fmt.Errorf("%s: [%s]: section given more than once", file, name))
			continue
		}
		keys, err := s.sectionOf(name, lname)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: [%s]: %v", file, name, err))
			continue
		}
		seen[lname] = true
		given := map[string]bool{} // lower-case key names of this section
		for _, k := range sec.Keys() {
			lk := strings.ToLower(k.Name())
			parse, ok := keys[lk]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: [%s] %s: unknown key%s", file, name, k.Name(), retiredKeys[lname+"/"+strings.ToLower(k.Name())]))
				continue
			}
			// Every value in file order. ini drops empty values from
			// the list (and so an empty value repeated or beside another
			// goes unseen): a key given only empty is one empty value.
			values := k.ValueWithShadows()
			if len(values) == 0 {
				values = []string{""}
			}
			if !s.repeatable[lk] && (given[lk] || len(values) > 1) {
				errs = append(errs, fmt.Errorf("%s: [%s] %s: given more than once", file, name, k.Name()))
				continue
			}
			given[lk] = true
			for _, v := range values {
				if err := parse(strings.TrimSpace(v)); err != nil {
					errs = append(errs, fmt.Errorf("%s: [%s] %s=%s: %v", file, name, k.Name(), v, err))
				}
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// sectionOf returns the schema of the owned section lname (name as
// written), fixed or of a family.
func (s schema) sectionOf(name, lname string) (section, error) {
	if keys, ok := s.owned[lname]; ok {
		return keys, nil
	}
	for prefix, open := range s.families {
		if strings.HasPrefix(lname, prefix) {
			return open(name[len(prefix):])
		}
	}
	return nil, errors.New("unknown section")
}

func (s schema) isForeign(lname string) bool {
	for _, f := range s.foreign {
		if lname == f || strings.HasSuffix(f, ":") && strings.HasPrefix(lname, f) {
			return true
		}
	}
	return false
}

// retiredKeys explain keys of earlier versions, by "section/key".
var retiredKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"infectedaction", "suspiciousaction", "protectedaction", "corruptedaction", "uncheckedaction"} {
		m["smtpscan.general/"+k] = " (the basic actions became the [smtpscan.group:NAME] rules: use e.g. InfectedRecipientAction=reject in [smtpscan.group:default])"
	}
	return m
}()

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
