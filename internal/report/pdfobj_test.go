package report

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSkipNested(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<</A 1>> rest", "<</A 1>>"},
		{"<</A <</B [1 2 <3f>]>> /C (x>>y\\) ) z)>>tail", "<</A <</B [1 2 <3f>]>> /C (x>>y\\) ) z)>>"},
		{"[1 [2] (]) 3]x", "[1 [2] (]) 3]"},
	}
	for _, tt := range tests {
		end, err := skipNested([]byte(tt.in), 0)
		if err != nil {
			t.Fatalf("skipNested(%q): %v", tt.in, err)
		}
		if got := tt.in[:end]; got != tt.want {
			t.Errorf("skipNested(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"<</A 1", "<</A (unclosed>>", "[1 2"} {
		if _, err := skipNested([]byte(bad), 0); err == nil {
			t.Errorf("skipNested(%q) accepted", bad)
		}
	}
}

func TestDictHelpers(t *testing.T) {
	d := []byte("<</Length 12 /Length1 99 /Contents 7 0 R /Kids [3 0 R 5 0 R] /Size 8 0 R>>")
	if n, ok := dictInt(d, "Length"); !ok || n != 12 {
		t.Errorf("dictInt Length = %d, %v", n, ok)
	}
	if _, ok := dictInt(d, "Size"); ok {
		t.Errorf("dictInt took an indirect /Size as a number")
	}
	if n, ok := dictRef(d, "Contents"); !ok || n != 7 {
		t.Errorf("dictRef Contents = %d, %v", n, ok)
	}
	kids, _ := dictEntry(d, "Kids")
	if diff := cmp.Diff([]int{3, 5}, refs(kids)); diff != "" {
		t.Errorf("kids (-want +got):\n%s", diff)
	}
	if got := string(renumber(d, map[int]int{7: 70, 3: 30, 5: 50, 8: 80})); got != "<</Length 12 /Length1 99 /Contents 70 0 R /Kids [30 0 R 50 0 R] /Size 80 0 R>>" {
		t.Errorf("renumber = %s", got)
	}
}

// TestPDFRoundTrip writes a small PDF with pdfOut and reads it back.
func TestPDFRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	o := newPDFOut(&buf, "1.4")
	cat, pages, page, content, info := o.alloc(), o.alloc(), o.alloc(), o.alloc(), o.alloc()
	stream := []byte("BT ET endobj endstream inside")
	o.object(content, []byte("<</Length 29>>"), stream)
	o.object(page, []byte("<</Type /Page /Parent 2 0 R /Contents 4 0 R>>"), nil)
	o.object(pages, []byte("<</Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 100 100]>>"), nil)
	o.object(info, []byte("<</Title (a \\) b)>>"), nil)
	o.object(cat, []byte("<</Type /Catalog /Pages 2 0 R>>"), nil)
	if err := o.finish(cat, info, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	f, err := parsePDF(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	_, kids, err := pageTree(f)
	if err != nil || len(kids) != 1 || kids[0] != page {
		t.Fatalf("pageTree = %v, %v", kids, err)
	}
	v, s, err := f.object(content)
	if err != nil {
		t.Fatal(err)
	}
	if string(v) != "<</Length 29>>" || !bytes.Equal(s, stream) {
		t.Errorf("content object = %q + %q", v, s)
	}
	tool(t, buf.Bytes(), "qpdf", "--check")

	o2 := newPDFOut(&bytes.Buffer{}, "1.4")
	o2.alloc()
	if err := o2.finish(1, 1, nil); err == nil {
		t.Errorf("finish accepted a reserved object that was never written")
	}
	if _, err := parsePDF(buf.Bytes()[:buf.Len()/2]); err == nil {
		t.Errorf("parsePDF accepted a truncated file")
	}
}
