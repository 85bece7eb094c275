package main

import (
	"strings"
)

// commonWords is the main vocabulary of generated prose, mail and logs.
var commonWords = strings.Fields(`
the of and to in is was for that on with as by at from this be are have it
not or an which but all were has they their been one more can had new also
will would there other about time into after first when year only two some
these may over most people than its years during between such many where
under world state where city system part both while used since through before
report meeting invoice payment order account customer service delivery team
project budget quarter review contract shipment update request office access
please attached find regards thanks schedule monday tuesday friday week month
price total amount balance number reference document file copy version draft
server network backup user password login support ticket issue error warning
data database table record query result value field column row page section
figure chapter summary analysis market sales growth revenue cost profit plan
strategy product release feature change note list item group member manager
director board company limited international general public private local
national annual monthly weekly daily open close start stop send receive read
write check confirm approve reject cancel return pending complete available
information details address phone email website online internet software
hardware device machine computer program application window message mail
letter notice policy security privacy terms conditions agreement approval
north south east west central region area district street road house building
water energy power light heat air food health school student teacher class
history science nature animal plant river mountain island ocean weather
morning evening night today tomorrow yesterday early late soon always never
good great small large long short high low old young right left next last
important different possible available special certain clear simple strong
`)

// syllables build pseudo-words. YARA rule strings are made from these, and a
// small share of generated prose uses them too, so rule atoms sometimes hit
// and the matcher has to verify and reject them, as on real mail.
var syllables = strings.Fields(`
ka ro mi tu ve la sen dor fi gal bre tan qui mor zel pa nu rix ost ven
cal dri fu hem jor kel lum nar opp qua ril sta tor ulm vex wen yar zor
bel cim dax eft gor hul isk jat kov lir mef nox pim rud sab tev urn vos
`)

func pseudoWord(r *rnd) string {
	n := r.between(2, 4)
	var b strings.Builder
	for range n {
		b.WriteString(pick(r, syllables))
	}
	return b.String()
}

// textGen appends English-looking prose to a byte slice.
type textGen struct {
	r      *rnd
	pseudo []string // a small per-file set of pseudo-words
}

func newTextGen(r *rnd) *textGen {
	t := &textGen{r: r}
	for range 24 {
		t.pseudo = append(t.pseudo, pseudoWord(r))
	}
	return t
}

func (t *textGen) word() string {
	if t.r.IntN(40) == 0 {
		return pick(t.r, t.pseudo)
	}
	return pick(t.r, commonWords)
}

// sentence appends one sentence.
func (t *textGen) sentence(b []byte) []byte {
	n := t.r.between(5, 18)
	for i := range n {
		w := t.word()
		if i == 0 {
			b = append(b, w[0]-'a'+'A')
			b = append(b, w[1:]...)
		} else {
			b = append(b, ' ')
			b = append(b, w...)
		}
		if i > 0 && i < n-1 && t.r.IntN(12) == 0 {
			b = append(b, ',')
		}
	}
	switch t.r.IntN(10) {
	case 0:
		b = append(b, '?')
	case 1:
		b = append(b, '!')
	default:
		b = append(b, '.')
	}
	return b
}

// paragraph appends a paragraph wrapped at about width columns (0: no wrap).
func (t *textGen) paragraph(b []byte, width int) []byte {
	lineStart := len(b)
	n := t.r.between(2, 7)
	for i := range n {
		if i > 0 {
			b = append(b, ' ')
		}
		b = t.sentence(b)
		if width > 0 {
			// Re-wrap the tail of b at spaces.
			for len(b)-lineStart > width {
				cut := lineStart + width
				for cut > lineStart && b[cut] != ' ' {
					cut--
				}
				if cut == lineStart {
					break
				}
				b[cut] = '\n'
				lineStart = cut + 1
			}
		}
	}
	return b
}

// prose appends paragraphs until b has grown by about n bytes.
func (t *textGen) prose(b []byte, n, width int) []byte {
	end := len(b) + n
	for len(b) < end {
		b = t.paragraph(b, width)
		b = append(b, '\n', '\n')
	}
	return b
}

// title returns a short capitalised phrase.
func (t *textGen) title() string {
	n := t.r.between(2, 6)
	parts := make([]string, n)
	for i := range parts {
		w := t.word()
		parts[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(parts, " ")
}

var firstNames = strings.Fields(`anna ben carla david emma felix greta hugo ines jonas karin leo maria nils
olga peter rosa simon tina ulrich vera walter xenia yusuf zoe`)
var lastNames = strings.Fields(`adams becker costa dubois evans fischer garcia hansen ito jensen keller
larsen moreau novak olsen petrov quinn rossi schmidt tanaka urban vogel weber young zimmer`)
var domains = strings.Fields(`example.com example.net example.org mail.example.com corp.example
shop.example.net lists.example.org`)

func (t *textGen) person() (name, addr string) {
	f, l := pick(t.r, firstNames), pick(t.r, lastNames)
	name = strings.ToUpper(f[:1]) + f[1:] + " " + strings.ToUpper(l[:1]) + l[1:]
	addr = f + "." + l + "@" + pick(t.r, domains)
	return
}

// insertAt inserts data into b at position pos.
func insertAt(b []byte, pos int, data []byte) []byte {
	b = append(b, data...)
	copy(b[pos+len(data):], b[pos:len(b)-len(data)])
	copy(b[pos:], data)
	return b
}

// slotPositions picks one position per piece in [lo, hi): the range is cut
// into equal slots and piece i lands in slot i, so pieces never overlap and
// the positions come out in ascending order.
func slotPositions(r *rnd, lo, hi int, pieces [][]byte, room bool) []int {
	k := len(pieces)
	pos := make([]int, k)
	n := hi - lo
	for i := range k {
		s, e := lo+n*i/k, lo+n*(i+1)/k
		if room {
			e -= len(pieces[i]) // the piece must fit inside its slot
		}
		pos[i] = s + r.IntN(max(1, e-s))
	}
	return pos
}

// plantInto inserts the pieces into b at random places in [lo, len(b)),
// each one after a newline when atLineStart is set. The bytes around them
// are kept.
func plantInto(r *rnd, b []byte, lo int, pieces [][]byte, atLineStart bool) []byte {
	if len(pieces) == 0 {
		return b
	}
	if lo >= len(b) {
		for _, p := range pieces {
			b = append(b, p...)
		}
		return b
	}
	pos := slotPositions(r, lo, len(b), pieces, false)
	for i := range pos {
		if atLineStart {
			for pos[i] > 0 && pos[i] < len(b) && b[pos[i]-1] != '\n' {
				pos[i]++
			}
		}
		if i > 0 && pos[i] < pos[i-1] {
			pos[i] = pos[i-1]
		}
	}
	// Insert from the last position back, so earlier positions stay valid.
	for i := len(pieces) - 1; i >= 0; i-- {
		b = insertAt(b, pos[i], pieces[i])
	}
	return b
}

// overwriteInto copies the pieces over bytes of b in [lo, len(b)), keeping
// the length (for binaries whose layout must not move). It falls back to
// inserting when the region is too small.
func overwriteInto(r *rnd, b []byte, lo int, pieces [][]byte) []byte {
	need := 0
	for _, p := range pieces {
		need += len(p)
	}
	if len(pieces) == 0 || len(b)-lo < 4*need {
		return plantInto(r, b, lo, pieces, false)
	}
	for i, p := range slotPositions(r, lo, len(b), pieces, true) {
		copy(b[p:], pieces[i])
	}
	return b
}
