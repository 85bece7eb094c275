package fmtwrite

import "testing"

// The encoders' output is checked by decoding it in pkg/unpack (which
// imports this package, so those tests cannot live here); these tests
// check what the writers refuse or leave out.

func TestQuantumRefusesWhatItCannotCode(t *testing.T) {
	for _, bits := range []int{9, 22} {
		if _, _, err := Quantum([]byte("abc"), bits, 4); err == nil {
			t.Errorf("window 2^%d accepted", bits)
		}
		if _, err := QuantumCab(bits, CabFile{"a", []byte("abc")}); err == nil {
			t.Errorf("cabinet with window 2^%d accepted", bits)
		}
	}
	e, err := NewQuantumEncoder(12)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range [][2]int{{2, 1}, {260, 1}, {5, 0}, {5, 1<<12 + 1}, {3, 4097}} {
		if err := e.Match(m[0], m[1]); err == nil {
			t.Errorf("match of %d bytes from %d back accepted", m[0], m[1])
		}
	}
	if st := e.Stats(); st.Selectors != [QuantumSelectors]int{} {
		t.Errorf("refused matches were counted: %+v", st)
	}
}
