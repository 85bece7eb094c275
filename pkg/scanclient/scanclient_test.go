package scanclient

import (
	"testing"

	avev1 "ave/proto/ave/v1"

	"ave/pkg/verdict"
)

func TestStatusNamesAgreeWithTheProtoEnum(t *testing.T) {
	for _, s := range []verdict.Status{verdict.Clean, verdict.Unchecked, verdict.Corrupted, verdict.Protected, verdict.Suspicious, verdict.Infected} {
		p, ok := avev1.Status_value[s.String()]
		if !ok || p == 0 {
			t.Fatalf("%v has no proto value", s)
		}
		if got := statusFromProto(avev1.Status(p)); got != s {
			t.Fatalf("round trip of %v gave %v", s, got)
		}
	}
	if got := statusFromProto(avev1.Status(99)); got != verdict.Unchecked {
		t.Fatalf("unknown status must be UNCHECKED, got %v", got)
	}
}
