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

func TestListedObjectsComeBackAsVerdictObjects(t *testing.T) {
	p := &avev1.ScanResponse{
		Status:  avev1.Status_CLEAN,
		Objects: 2,
		ListedObjects: []*avev1.ObjectInfo{
			{Path: "m.eml", Type: "mail", Size: 700},
			{Path: "m.eml/b.exe", Type: "pe", Depth: 1, Size: 512},
		},
		ObjectsTruncated: true,
	}
	r := fromProto(p)
	want := []verdict.Object{{Path: "m.eml", Type: "mail", Size: 700}, {Path: "m.eml/b.exe", Type: "pe", Depth: 1, Size: 512}}
	if len(r.ListedObjects) != 2 || r.ListedObjects[0] != want[0] || r.ListedObjects[1] != want[1] || !r.ObjectsTruncated || r.Objects != 2 {
		t.Fatalf("got %+v", r.Result)
	}
	if r := fromProto(&avev1.ScanResponse{Status: avev1.Status_CLEAN, Objects: 1}); r.ListedObjects != nil || r.ObjectsTruncated {
		t.Fatalf("no list asked: %+v", r.Result)
	}
}
